//go:build linux || darwin || freebsd || netbsd || openbsd

package journal

import (
	"errors"
	"os"
	"syscall"
)

// lockDir takes an exclusive flock on the directory itself, so no lock
// file is left behind; the kernel releases it when the process dies.
func lockDir(d *os.File) error {
	err := syscall.Flock(int(d.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return ErrLocked
	}
	return err
}
