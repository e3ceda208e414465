//go:build linux

package watch

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/loaxa/loaxa/internal/atomicfile"
)

// within bounds a wait for something that should happen at once; it is
// a bound against hanging, not a timing assertion.
const within = 10 * time.Second

func changed(t *testing.T, w *Watcher, what string) {
	t.Helper()
	select {
	case <-w.Changed():
	case <-time.After(within):
		t.Fatalf("no change seen after %s", what)
	}
}

// quiet checks that no change is pending after the watcher has had time
// to read what the kernel queued.
func quiet(t *testing.T, w *Watcher, what string) {
	t.Helper()
	time.Sleep(50 * time.Millisecond)
	select {
	case <-w.Changed():
		t.Fatalf("a change was signalled after %s", what)
	default:
	}
}

// Every way a person or a test changes a control file is seen; files not
// watched are not.
func TestChangesToWatchedFiles(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	w, err := Dir(dir, "state", "rsrp")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := os.WriteFile(state, []byte("registered\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	changed(t, w, "creating a file")
	if err := os.WriteFile(state, []byte("gone\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	changed(t, w, "rewriting it in place")
	if _, err := atomicfile.WriteFile(filepath.Join(dir, "rsrp"), []byte("-100\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	changed(t, w, "replacing another one atomically")
	if err := os.Remove(state); err != nil {
		t.Fatal(err)
	}
	changed(t, w, "removing it")
	quiet(t, w, "the last change was received")
	if err := os.WriteFile(filepath.Join(dir, "at.log"), []byte("AT\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	quiet(t, w, "writing a file that is not watched")
}

// Many changes before the receiver looks are one signal, not a queue that
// grows.
func TestChangesFoldIntoOne(t *testing.T) {
	dir := t.TempDir()
	w, err := Dir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i := range 100 {
		if err := os.WriteFile(filepath.Join(dir, "f"), []byte{byte(i)}, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The receiver looks after the watcher read them all (200 events,
	// which it may take in more than one read).
	time.Sleep(100 * time.Millisecond)
	changed(t, w, "100 writes")
	quiet(t, w, "the one signal was received")
}

// A Poller sees each change at once, without waiting for anyone: the
// kernel queues it within the writer's own system call. Files it does not
// watch leave it quiet, and once its directory is gone it always says
// "changed" (it cannot tell any more).
func TestPollerAnswersAtOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "inputs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := Poll(dir, "tamper", "mains")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Changed() {
		t.Fatal("changed before anything was written")
	}
	tamper := filepath.Join(dir, "tamper")
	steps := []struct {
		what string
		do   func() error
		want bool
	}{
		{"writing a watched file", func() error { return os.WriteFile(tamper, []byte("1\n"), 0o644) }, true},
		{"nothing", func() error { return nil }, false},
		{"100 writes", func() error {
			for range 100 {
				if err := os.WriteFile(tamper, []byte("0\n"), 0o644); err != nil {
					return err
				}
			}
			return nil
		}, true},
		{"the 100 writes were reported", func() error { return nil }, false},
		{"replacing the other one atomically", func() error {
			_, err := atomicfile.WriteFile(filepath.Join(dir, "mains"), []byte("0\n"), 0o644)
			return err
		}, true},
		{"writing a file that is not watched", func() error { return os.WriteFile(filepath.Join(dir, "notes"), nil, 0o644) }, false},
		{"removing a watched file", func() error { return os.Remove(tamper) }, true},
		{"removing the directory", func() error { return os.RemoveAll(dir) }, true},
		{"nothing, with the directory gone", func() error { return nil }, true},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatal(err)
		}
		if got := p.Changed(); got != st.want {
			t.Fatalf("after %s: Changed() = %v, want %v", st.what, got, st.want)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if !p.Changed() {
		t.Fatal("a closed Poller said nothing changed")
	}
}

// Close stops the goroutine (it returns only when it has) and may be
// called twice; a missing directory is an error, not a watcher.
func TestCloseAndMissingDirectory(t *testing.T) {
	w, err := Dir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(within):
		t.Fatal("Close did not return")
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := Dir(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("watching a missing directory did not fail")
	}
}
