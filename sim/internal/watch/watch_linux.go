//go:build linux

package watch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"

	"golang.org/x/sys/unix"
)

// events are the changes a person or a test makes to a control file: a
// write (echo 1 > f), an atomic replace (rename onto f), a removal.
const events = unix.IN_CLOSE_WRITE | unix.IN_MODIFY | unix.IN_CREATE | unix.IN_MOVED_TO | unix.IN_MOVED_FROM | unix.IN_DELETE | unix.IN_ATTRIB

// Watcher follows the files of one directory. It owns one goroutine, which
// Close stops.
type Watcher struct {
	f       *os.File
	names   []string
	changed chan struct{}
	done    chan struct{}
	once    sync.Once
}

// Dir watches the directory dir for changes to the files called names (all
// of its files when none is given).
func Dir(dir string, names ...string) (*Watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("watch %s: inotify: %w", dir, err)
	}
	if _, err := unix.InotifyAddWatch(fd, dir, events); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("watch %s: %w", dir, err)
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
	buf := make([]byte, 16*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
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
		if w.relevant(buf[:n]) {
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

// relevant reports whether the events in b concern a watched name. A
// queue overflow (events were lost) counts as a change.
func (w *Watcher) relevant(b []byte) bool {
	if len(w.names) == 0 {
		return true
	}
	for len(b) >= unix.SizeofInotifyEvent {
		// struct inotify_event: wd, mask, cookie, len, then the name.
		mask := binary.NativeEndian.Uint32(b[4:8])
		end := unix.SizeofInotifyEvent + int(binary.NativeEndian.Uint32(b[12:16]))
		if end > len(b) || mask&unix.IN_Q_OVERFLOW != 0 {
			return true
		}
		name := b[unix.SizeofInotifyEvent:end]
		if i := slices.Index(name, 0); i >= 0 {
			name = name[:i]
		}
		if slices.Contains(w.names, string(name)) {
			return true
		}
		b = b[end:]
	}
	return false
}
