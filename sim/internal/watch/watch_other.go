//go:build !linux

package watch

import "errors"

// Watcher follows the files of one directory; only Linux has one.
type Watcher struct{ changed chan struct{} }

// Dir fails: watching needs Linux inotify. Callers poll instead.
func Dir(dir string, names ...string) (*Watcher, error) {
	return nil, errors.New("watch " + dir + ": needs Linux inotify")
}

// Changed never receives.
func (w *Watcher) Changed() <-chan struct{} { return w.changed }

// Close does nothing.
func (w *Watcher) Close() error { return nil }

// Poller follows the files of one directory; only Linux has one.
type Poller struct{}

// Poll fails: watching needs Linux inotify. Callers read every time.
func Poll(dir string, names ...string) (*Poller, error) {
	return nil, errors.New("watch " + dir + ": needs Linux inotify")
}

// Changed always says true.
func (p *Poller) Changed() bool { return true }

// Close does nothing.
func (p *Poller) Close() error { return nil }
