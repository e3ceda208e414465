//go:build linux

package watch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// events are the changes a person or a test makes to a control file: a
// write (echo 1 > f), an atomic replace (rename onto f), a removal.
const events = unix.IN_CLOSE_WRITE | unix.IN_MODIFY | unix.IN_CREATE | unix.IN_MOVED_TO | unix.IN_MOVED_FROM | unix.IN_DELETE | unix.IN_ATTRIB

// eventBuf is the size of one read of events: at least 16 of them.
const eventBuf = 16 * (unix.SizeofInotifyEvent + unix.NAME_MAX + 1)

// Watcher follows the files of one directory. It owns one goroutine, which
// Close stops.
type Watcher struct {
	f       *os.File
	names   []string
	changed chan struct{}
	done    chan struct{}
	once    sync.Once
}

// inotify opens a non-blocking inotify descriptor watching dir.
func inotify(dir string) (int, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return -1, fmt.Errorf("watch %s: inotify: %w", dir, err)
	}
	if _, err := unix.InotifyAddWatch(fd, dir, events); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("watch %s: %w", dir, err)
	}
	return fd, nil
}

// Dir watches the directory dir for changes to the files called names (all
// of its files when none is given).
func Dir(dir string, names ...string) (*Watcher, error) {
	fd, err := inotify(dir)
	if err != nil {
		return nil, err
	}
	// A non-blocking descriptor goes to Go's poller: the goroutine below
	// sleeps in it without holding a thread, and Close wakes it.
	w := &Watcher{
		f:       os.NewFile(uintptr(fd), "inotify:"+dir),
		names:   names,
		changed: make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	go w.run()
	return w, nil
}

// Changed receives after a change to a watched file. Changes that come
// while an earlier one has not been received yet are folded into it, so
// the receiver reads the files after each receive and misses nothing.
func (w *Watcher) Changed() <-chan struct{} { return w.changed }

// Close stops watching and waits for the goroutine. Calling it again does
// nothing.
func (w *Watcher) Close() error {
	var err error
	w.once.Do(func() {
		err = w.f.Close()
		<-w.done
	})
	return err
}

func (w *Watcher) run() {
	defer close(w.done)
	buf := make([]byte, eventBuf)
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				// The descriptor failed: say "changed" so that the
				// receiver reads the files once more; its own slow poll
				// covers what follows.
				w.signal()
			}
			return
		}
		// The Watcher goes on after its directory is gone: the caller's
		// slow poll covers what follows.
		if relevant, _ := scan(buf[:n], w.names); relevant {
			w.signal()
		}
	}
}

func (w *Watcher) signal() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// scan reads the events in b: relevant when one concerns a name in names
// (any name when names is empty) or events were lost (a queue overflow);
// gone when the directory itself went away (removed, or on a file system
// unmounted), after which no event will ever come.
func scan(b []byte, names []string) (relevant, gone bool) {
	for len(b) >= unix.SizeofInotifyEvent {
		// struct inotify_event: wd, mask, cookie, len, then the name.
		mask := binary.NativeEndian.Uint32(b[4:8])
		end := unix.SizeofInotifyEvent + int(binary.NativeEndian.Uint32(b[12:16]))
		if end > len(b) || mask&unix.IN_Q_OVERFLOW != 0 {
			return true, gone
		}
		if mask&unix.IN_IGNORED != 0 {
			relevant, gone = true, true
		}
		name := b[unix.SizeofInotifyEvent:end]
		if i := slices.Index(name, 0); i >= 0 {
			name = name[:i]
		}
		if len(names) == 0 || slices.Contains(names, string(name)) {
			relevant = true
		}
		b = b[end:]
	}
	return relevant, gone
}

// Poller follows the files of one directory without a goroutine: Changed
// says, when asked, whether one changed since it last asked. The kernel
// queues a change within the system call that makes it, so Changed after
// a write (by any process) always sees that write.
type Poller struct {
	mu    sync.Mutex
	fd    int // -1 once closed
	names []string
	buf   []byte
}

// Poll watches the directory dir for changes to the files called names
// (all of its files when none is given).
func Poll(dir string, names ...string) (*Poller, error) {
	fd, err := inotify(dir)
	if err != nil {
		return nil, err
	}
	return &Poller{fd: fd, names: names, buf: make([]byte, eventBuf)}, nil
}

// Changed reports whether a watched file changed since the last call. It
// also says true when it cannot tell (the queue overflowed, the
// descriptor failed, the Poller is closed): the caller then reads the
// files, which is never wrong.
func (p *Poller) Changed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fd < 0 {
		return true
	}
	changed := false
	for {
		// A raw system call: this read never blocks (IN_NONBLOCK), and
		// unlike syscall.Read it does not wake the Go runtime's monitor
		// thread, which then polls every 20 µs for a while; the agent
		// asks several times a second.
		n, _, errno := unix.RawSyscall(unix.SYS_READ, uintptr(p.fd), uintptr(unsafe.Pointer(&p.buf[0])), uintptr(len(p.buf)))
		switch {
		case errno == unix.EAGAIN:
			return changed
		case errno != 0 || n == 0:
			return true
		}
		rel, gone := scan(p.buf[:n], p.names)
		if gone {
			// The directory is gone: nothing will be said again, so
			// from now on every answer is "changed".
			unix.Close(p.fd)
			p.fd = -1
			return true
		}
		changed = changed || rel
	}
}

// Close stops watching; Changed then always says true. Calling it again
// does nothing.
func (p *Poller) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fd < 0 {
		return nil
	}
	err := unix.Close(p.fd)
	p.fd = -1
	return err
}
