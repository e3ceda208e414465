//go:build !linux

package testenv

import (
	"os"
	"testing"
)

// PTY is a pseudo-terminal pair (Linux only; see pty_linux.go).
type PTY struct {
	Master, Slave *os.File
	Path          string
}

// OpenPTY skips the test: the pseudo-terminal tests run on Linux.
func OpenPTY(tb testing.TB, raw bool) *PTY {
	tb.Skip("skipped: the pseudo-terminal tests run on Linux")
	return nil
}
