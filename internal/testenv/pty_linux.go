package testenv

import (
	"os"
	"syscall"
	"testing"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// PTY is a pseudo-terminal pair for tests of serial code: the program under
// test opens Path (the slave) as it would open /dev/ttyAMA0 or a modem's
// port, and the test holds Master, the far end of the cable. The test also
// keeps Slave open, so the master sees no hang-up while the program closes
// and reopens its end (an agent restarting, a port reopened).
type PTY struct {
	Master, Slave *os.File
	Path          string
}

// OpenPTY opens a pseudo-terminal, closed when the test ends; without
// pseudo-terminals the test is skipped. raw makes the slave raw before
// anything is written (a cooked line discipline echoes what arrives back
// into the cable, and turns CR into LF). The master is a non-blocking copy
// going through Go's poller, so closing it ends a Read in progress (the
// cable pulled).
func OpenPTY(tb testing.TB, raw bool) *PTY {
	tb.Helper()
	m0, s, err := pty.Open()
	if err != nil {
		tb.Skipf("skipped: no pseudo-terminals here: %v", err)
	}
	if raw {
		if err := makeRaw(int(s.Fd())); err != nil {
			m0.Close()
			s.Close()
			tb.Fatalf("testenv: make the pty raw: %v", err)
		}
	}
	fd, err := syscall.Dup(int(m0.Fd()))
	m0.Close()
	if err != nil {
		s.Close()
		tb.Fatal(err)
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		s.Close()
		tb.Fatal(err)
	}
	p := &PTY{Master: os.NewFile(uintptr(fd), "/dev/ptmx"), Slave: s, Path: s.Name()}
	tb.Cleanup(func() {
		p.Master.Close()
		p.Slave.Close()
	})
	return p
}

// makeRaw sets a terminal to raw mode, 8 bits, one byte at a time.
func makeRaw(fd int) error {
	tio, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return err
	}
	tio.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	tio.Oflag &^= unix.OPOST
	tio.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	tio.Cflag &^= unix.CSIZE | unix.PARENB
	tio.Cflag |= unix.CS8
	tio.Cc[unix.VMIN], tio.Cc[unix.VTIME] = 1, 0
	return unix.IoctlSetTermios(fd, unix.TCSETS, tio)
}
