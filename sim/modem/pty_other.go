//go:build !linux

package modem

import "errors"

// openPTY needs Linux: the emulated modem sets the pseudo-terminal raw
// with Linux termios ioctls.
func openPTY() (*tty, error) {
	return nil, errors.New("the emulated modem needs Linux pseudo-terminals")
}

func closePTY(t *tty) {}

func releaseExclusive(t *tty) {}
