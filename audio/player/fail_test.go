package player

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/audio/guard"
)

// brokenSink works for ok writes, then fails every write.
type brokenSink struct {
	memSink
	mu sync.Mutex
	ok int
}

var errUnplugged = errors.New("device unplugged")

func (b *brokenSink) Write(p []int16) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ok <= 0 {
		return errUnplugged
	}
	b.ok--
	return b.memSink.Write(p)
}

// Issue 7, finding 7: an item whose device failed stayed "playing" for
// good (the amplifier on), the player retrying under it every second.
func TestSinkFailureEndsTheItemWithTheError(t *testing.T) {
	sink := &brokenSink{ok: 20}
	p, err := New(Options{Sink: sink, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	p.Play(Item{ID: "a", Open: tone(48000 * 2 * 60), Gain: 1})
	// The sink may fail before the item's first sample (the player writes
	// silence while the source pre-rolls) or after: either way it ends.
	ev := next(t, p)
	if ev.Kind == Started {
		ev = next(t, p)
	}
	if ev.Kind != Ended || ev.ID != "a" || !errors.Is(ev.Err, errUnplugged) {
		t.Fatalf("event %+v, want a's end with the device's error", ev)
	}
	// The next item fails the same way rather than hang.
	p.Play(Item{ID: "b", Open: tone(48000 * 2 * 60), Gain: 1})
	if ev := next(t, p); ev.Kind != Ended || ev.ID != "b" || ev.Err == nil {
		t.Fatalf("event %+v, want b's end with an error", ev)
	}
}

// hungSink never returns from its third write, until released.
type hungSink struct {
	memSink
	mu      sync.Mutex
	writes  int
	release chan struct{}
}

func (h *hungSink) Write(p []int16) error {
	h.mu.Lock()
	h.writes++
	n := h.writes
	h.mu.Unlock()
	if n >= 3 {
		<-h.release
	}
	return h.memSink.Write(p)
}

// A player on a guarded device that wedges: the item ends failed within
// the deadline, a stop is answered, and Run returns when asked.
func TestWedgedDeviceBehindAGuard(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hung := &hungSink{release: make(chan struct{})}
		g, err := guard.Open(guard.Options{
			Open: func() (audio.Sink, error) { return hung, nil },
			Log:  slog.New(slog.DiscardHandler),
			// Reopening gives the same wedged device: stay failed.
			MaxAbandoned: 1,
		})
		if err != nil {
			t.Fatal(err)
		}
		p, err := New(Options{Sink: g, Log: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { p.Run(ctx); close(done) }()
		p.KeepAlive(true)
		p.Play(Item{ID: "a", Open: tone(48000 * 2 * 60), Gain: 1})
		start := time.Now()
		var ev Event
		for ev = next(t, p); ev.Kind == Started; ev = next(t, p) {
		}
		if ev.Kind != Ended || !errors.Is(ev.Err, guard.ErrFailed) {
			t.Fatalf("event %+v, want the item ended with the device failure", ev)
		}
		if took := time.Since(start); took > 2*guard.DefaultMinDeadline {
			t.Errorf("the item ended %v after the device wedged", took)
		}
		p.Stop("x", 0)
		if ev := next(t, p); ev.Kind != Stopped || ev.ID != "x" {
			t.Fatalf("stop answered with %+v", ev)
		}
		start = time.Now()
		cancel()
		<-done
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("Run took %v to return", took)
		}
		g.Close()
		close(hung.release) // the abandoned write returns, its goroutine ends
	})
}
