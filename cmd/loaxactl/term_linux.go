//go:build linux

package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// setTerm changes the terminal fd with edit and returns how to undo it; ok
// is false when fd is not a terminal (a pipe, a file).
func setTerm(fd int, edit func(*unix.Termios)) (restore func(), ok bool) {
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return func() {}, false
	}
	t := *old
	edit(&t)
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &t); err != nil {
		return func() {}, false
	}
	return func() { _ = unix.IoctlSetTermios(fd, unix.TCSETS, old) }, true
}

// makeRaw puts a terminal in raw mode, as cfmakeraw(3): every key goes to
// the pole as typed (Ctrl-C included), nothing is echoed locally.
func makeRaw(fd int) (restore func(), ok bool) {
	return setTerm(fd, func(t *unix.Termios) {
		t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		t.Oflag &^= unix.OPOST
		t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		t.Cflag &^= unix.CSIZE | unix.PARENB
		t.Cflag |= unix.CS8
		t.Cc[unix.VMIN] = 1
		t.Cc[unix.VTIME] = 0
	})
}

// noEcho turns the terminal's echo off, for a password prompt.
func noEcho(fd int) (restore func(), ok bool) {
	return setTerm(fd, func(t *unix.Termios) { t.Lflag &^= unix.ECHO })
}

// pollable returns a copy of fd that Go's poller serves, so a read can be
// interrupted by a deadline (stdin of `loaxactl console` when the port goes
// away). The file description, shared with the shell, becomes non-blocking:
// restore makes it blocking again and closes the copy.
func pollable(fd int, name string) (f *os.File, restore func(), err error) {
	d, err := unix.Dup(fd)
	if err != nil {
		return nil, nil, err
	}
	if err := unix.SetNonblock(d, true); err != nil {
		unix.Close(d)
		return nil, nil, err
	}
	f = os.NewFile(uintptr(d), name)
	return f, func() {
		_ = unix.SetNonblock(fd, false)
		f.Close()
	}, nil
}
