//go:build linux

package modem

import (
	"fmt"
	"os"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal in raw mode. The emulator keeps the
// slave side open too: without it, reading the master fails with EIO
// whenever no client has the tty open (between a client's close and its
// reopen), and the emulator would take that for its own end.
func openPTY() (*tty, error) {
	master, slave, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("open a pseudo-terminal: %w", err)
	}
	// pty.Open leaves the master in blocking mode, where closing it does
	// not end serve's read in progress: closing the tty (the modem gone)
	// then waited until the client wrote or let go. In Go's poller it does.
	fd, err := unix.FcntlInt(master.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	master.Close()
	if err == nil {
		err = unix.SetNonblock(fd, true)
		if err != nil {
			unix.Close(fd)
		}
	}
	if err != nil {
		slave.Close()
		return nil, fmt.Errorf("open a pseudo-terminal: %w", err)
	}
	master = os.NewFile(uintptr(fd), "/dev/ptmx")
	t := &tty{master: master, slave: slave, name: slave.Name(), done: make(chan struct{})}
	// Raw before anyone opens it: in the default cooked mode the line
	// discipline would echo the emulator's answers back to it, and turn
	// CR into LF.
	tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err == nil {
		makeRaw(tio)
		err = unix.IoctlSetTermios(int(slave.Fd()), unix.TCSETS, tio)
	}
	if err != nil {
		closePTY(t)
		return nil, fmt.Errorf("set %s raw: %w", t.name, err)
	}
	return t, nil
}

// makeRaw is cfmakeraw(3).
func makeRaw(t *unix.Termios) {
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
}

// closePTY closes both sides: whoever has the tty open reads a hang-up,
// as when a USB modem leaves the bus.
func closePTY(t *tty) {
	_ = t.master.Close()
	_ = t.slave.Close()
}

// releaseExclusive clears TIOCEXCL, which go.bug.st/serial sets when it
// opens a port. A real tty loses it when its last opener dies; the
// emulator's own slave descriptor keeps this one alive, so after a client
// was killed (a crash test) a restarted client could not open it again
// without this.
func releaseExclusive(t *tty) {
	_ = unix.IoctlSetInt(int(t.slave.Fd()), unix.TIOCNXCL, 0)
}
