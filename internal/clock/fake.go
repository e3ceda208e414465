package clock

import (
	"sort"
	"sync"
	"time"
)

// Fake is a manual clock for tests. Timers and tickers fire only when Advance
// moves the time past their deadline. It is safe for concurrent use.
type Fake struct {
	mu      sync.Mutex // guards now and waiters
	now     time.Time
	waiters []*fakeWaiter
}

// NewFake returns a Fake clock set to start.
func NewFake(start time.Time) *Fake { return &Fake{now: start} }

type fakeWaiter struct {
	f        *Fake
	ch       chan time.Time
	deadline time.Time
	period   time.Duration // 0 for a timer
	active   bool
}

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// NewTimer returns a timer firing after d of fake time.
func (f *Fake) NewTimer(d time.Duration) Timer { return f.add(d, 0) }

// NewTicker returns a ticker firing every d of fake time.
func (f *Fake) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("clock: non-positive ticker interval")
	}
	return fakeTicker{f.add(d, d)}
}

type fakeTicker struct{ w *fakeWaiter }

func (t fakeTicker) C() <-chan time.Time   { return t.w.ch }
func (t fakeTicker) Stop()                 { t.w.Stop() }
func (t fakeTicker) Reset(d time.Duration) { t.w.Reset(d) }

func (f *Fake) add(d, period time.Duration) *fakeWaiter {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := &fakeWaiter{f: f, ch: make(chan time.Time, 1), deadline: f.now.Add(d), period: period, active: true}
	f.waiters = append(f.waiters, w)
	return w
}

// Advance moves the clock forward by d, firing every timer and ticker whose
// deadline is reached, in deadline order. A ticker that is not drained keeps
// only one pending tick, as time.Ticker does.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	end := f.now.Add(d)
	for {
		sort.SliceStable(f.waiters, func(i, j int) bool { return f.waiters[i].deadline.Before(f.waiters[j].deadline) })
		var next *fakeWaiter
		for _, w := range f.waiters {
			if w.active && !w.deadline.After(end) {
				next = w
				break
			}
		}
		if next == nil {
			break
		}
		f.now = next.deadline
		select {
		case next.ch <- f.now:
		default:
		}
		if next.period > 0 {
			next.deadline = next.deadline.Add(next.period)
		} else {
			next.active = false
		}
	}
	f.now = end
	f.compact()
	f.mu.Unlock()
}

// compact drops stopped timers; f.mu is held.
func (f *Fake) compact() {
	kept := f.waiters[:0]
	for _, w := range f.waiters {
		if w.active {
			kept = append(kept, w)
		}
	}
	clear(f.waiters[len(kept):])
	f.waiters = kept
}

// Waiters reports how many timers and tickers are armed, so a test can wait
// until the code under test has armed its timer before advancing.
func (f *Fake) Waiters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, w := range f.waiters {
		if w.active {
			n++
		}
	}
	return n
}

func (w *fakeWaiter) C() <-chan time.Time { return w.ch }

// Stop behaves as time.Timer.Stop since Go 1.23: a tick that fired but was
// not received is withdrawn (and then counts as stopped), so no stale tick
// is seen after Stop.
func (w *fakeWaiter) Stop() bool {
	w.f.mu.Lock()
	defer w.f.mu.Unlock()
	drained := w.drain()
	was := w.active || drained
	w.active = false
	return was
}

// drain withdraws a pending tick; w.f.mu is held.
func (w *fakeWaiter) drain() bool {
	select {
	case <-w.ch:
		return true
	default:
		return false
	}
}

func (w *fakeWaiter) Reset(d time.Duration) {
	w.f.mu.Lock()
	defer w.f.mu.Unlock()
	w.drain() // as time.Timer.Reset since Go 1.23: no stale tick after Reset
	w.deadline = w.f.now.Add(d)
	if w.period > 0 {
		w.period = d
	}
	w.active = true
	for _, x := range w.f.waiters {
		if x == w {
			return
		}
	}
	w.f.waiters = append(w.f.waiters, w)
}
