//go:build linux

package timerfd

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Timer is one timerfd, used either with Sleep or with Every and Wait,
// never both (they share the state of the system calls). Sleep is for
// one goroutine at a time; Every may come while a Wait is in progress;
// Close may come from any goroutine, and ends a Sleep or a Wait.
type Timer struct {
	f      *os.File
	rc     syscall.RawConn
	closed atomic.Bool
	// The state of the raw system calls, kept in the (heap-allocated,
	// never moving) Timer, whose addresses they take. Arming (Sleep,
	// Every) and reading (Sleep, Wait) have their own, as Every may run
	// while a Wait reads. The calls are built once: a closure made at
	// each call escapes to the heap (the poller keeps it), an allocation
	// per sleep.
	spec      unix.ItimerSpec
	armErrno  syscall.Errno
	armFn     func(fd uintptr)
	buf       [8]byte
	waitErrno syscall.Errno
	waitFn    func(fd uintptr) bool
}

// New opens a timer on the monotonic clock.
func New() (*Timer, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("timerfd: %w", err)
	}
	// A non-blocking descriptor goes to Go's poller: Sleep parks the
	// goroutine there, without holding a thread, and Close wakes it.
	f := os.NewFile(uintptr(fd), "timerfd")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("timerfd: %w", err)
	}
	t := &Timer{f: f, rc: rc}
	t.armFn = func(fd uintptr) {
		_, _, t.armErrno = unix.RawSyscall6(unix.SYS_TIMERFD_SETTIME, fd, 0, uintptr(unsafe.Pointer(&t.spec)), 0, 0, 0)
	}
	t.waitFn = func(fd uintptr) bool {
		_, _, t.waitErrno = unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&t.buf[0])), uintptr(len(t.buf)))
		return t.waitErrno != unix.EAGAIN
	}
	return t, nil
}

// ErrClosed is what a Sleep that Close ended returns.
var ErrClosed = errors.New("timerfd: timer closed")

// Sleep returns after d, or at once when d ≤ 0.
func (t *Timer) Sleep(d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t.spec = unix.ItimerSpec{Value: unix.NsecToTimespec(int64(d))}
	if err := t.arm(); err != nil {
		return err
	}
	// Arming cleared any expiry not read yet, so the read below is this
	// sleep's: EAGAIN until the timer fires, then its count.
	return t.wait()
}

// Every arms the timer to expire every d, the first time d from now,
// until it is armed again or closed. Wait waits for the expiries; Sleep
// must not be used on the same Timer. Every may be called while a Wait is
// in progress.
func (t *Timer) Every(d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("timerfd: period %v: want more than 0", d)
	}
	t.spec = unix.ItimerSpec{Value: unix.NsecToTimespec(int64(d)), Interval: unix.NsecToTimespec(int64(d))}
	return t.arm()
}

// Wait returns once the timer armed by Every has expired since the last
// Wait (expiries missed meanwhile count as one), or when Close ends it
// (ErrClosed).
func (t *Timer) Wait() error { return t.wait() }

// arm sets the timer to t.spec.
func (t *Timer) arm() error {
	t.armErrno = 0
	// Control holds the descriptor open for the call: a Close meanwhile
	// cannot hand its number to another file.
	if err := t.rc.Control(t.armFn); err != nil {
		return t.failed(err)
	}
	if t.armErrno != 0 {
		return fmt.Errorf("timerfd: arming: %w", t.armErrno)
	}
	return nil
}

// wait parks the goroutine in Go's poller until the timer has expired,
// and reads the expiry count into t.buf.
func (t *Timer) wait() error {
	t.waitErrno = 0
	if err := t.rc.Read(t.waitFn); err != nil {
		return t.failed(err)
	}
	if t.waitErrno != 0 {
		return fmt.Errorf("timerfd: reading: %w", t.waitErrno)
	}
	return nil
}

// failed is the error of a call on the descriptor that could not be made.
func (t *Timer) failed(err error) error {
	if t.closed.Load() {
		return ErrClosed
	}
	return fmt.Errorf("timerfd: %w", err)
}

// Close releases the timer and ends a Sleep in progress (with ErrClosed).
// Calling it again does nothing.
func (t *Timer) Close() error {
	t.closed.Store(true)
	if err := t.f.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("timerfd: %w", err)
	}
	return nil
}
