package clock_test

import (
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/loaxa/loaxa/internal/clock"
)

var start = time.Date(2025, 11, 25, 22, 30, 0, 0, time.UTC)

// received returns the value waiting on ch, if any, without blocking.
func received(ch <-chan time.Time) (time.Time, bool) {
	select {
	case v := <-ch:
		return v, true
	default:
		return time.Time{}, false
	}
}

// at is start plus d, for readable expectations.
func at(d time.Duration) time.Time { return start.Add(d) }

func TestFakeNowMovesOnlyWithAdvance(t *testing.T) {
	f := clock.NewFake(start)
	if got := f.Now(); !got.Equal(start) {
		t.Fatalf("Now() = %v, want the start %v", got, start)
	}
	f.Advance(90 * time.Minute)
	f.Advance(0)
	if got, want := f.Now(), at(90*time.Minute); !got.Equal(want) {
		t.Fatalf("Now() after Advance(90m) = %v, want %v", got, want)
	}
}

func TestFakeTimerFiresAtItsDeadline(t *testing.T) {
	tests := []struct {
		name     string
		d        time.Duration
		advances []time.Duration
		fired    bool
	}{
		{"just before the deadline", time.Second, []time.Duration{999 * time.Millisecond}, false},
		{"exactly at the deadline", time.Second, []time.Duration{time.Second}, true},
		{"past the deadline", time.Second, []time.Duration{time.Hour}, true},
		{"in several steps", time.Second, []time.Duration{400 * time.Millisecond, 400 * time.Millisecond, 200 * time.Millisecond}, true},
		{"zero duration on Advance(0)", 0, []time.Duration{0}, true},
		{"no advance at all", time.Second, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := clock.NewFake(start)
			tm := f.NewTimer(tt.d)
			for _, d := range tt.advances {
				f.Advance(d)
			}
			v, ok := received(tm.C())
			if ok != tt.fired {
				t.Fatalf("fired = %v, want %v", ok, tt.fired)
			}
			// A timer reports the time of its deadline, not of the end of
			// the Advance that passed it, as a real timer would.
			if ok && !v.Equal(at(tt.d)) {
				t.Errorf("timer sent %v, want its deadline %v", v, at(tt.d))
			}
		})
	}
}

func TestFakeTimerFiresOnce(t *testing.T) {
	f := clock.NewFake(start)
	tm := f.NewTimer(time.Second)
	f.Advance(time.Second)
	if _, ok := received(tm.C()); !ok {
		t.Fatal("timer did not fire at its deadline")
	}
	f.Advance(time.Hour)
	if v, ok := received(tm.C()); ok {
		t.Fatalf("timer fired a second time, at %v", v)
	}
}

func TestFakeAdvancePastSeveralDeadlines(t *testing.T) {
	// Timers created out of order and passed by one Advance each fire with
	// their own deadline, the time they would have seen in real life, and
	// the clock ends where the Advance said.
	f := clock.NewFake(start)
	ds := []time.Duration{3 * time.Second, 1500 * time.Millisecond, 2500 * time.Millisecond}
	timers := make([]clock.Timer, len(ds))
	for i, d := range ds {
		timers[i] = f.NewTimer(d)
	}
	f.Advance(10 * time.Second)
	for i, tm := range timers {
		v, ok := received(tm.C())
		if !ok || !v.Equal(at(ds[i])) {
			t.Errorf("timer %v: got %v (fired %v), want %v", ds[i], v, ok, at(ds[i]))
		}
	}
	if got := f.Now(); !got.Equal(at(10 * time.Second)) {
		t.Errorf("Now() = %v after Advance(10s), want %v", got, at(10*time.Second))
	}
}

func TestFakeTickerKeepsOnePendingTick(t *testing.T) {
	f := clock.NewFake(start)
	tk := f.NewTicker(time.Second)
	defer tk.Stop()

	// Five periods pass without anyone reading: like time.Ticker, only
	// the first tick waits in the channel, the others are dropped.
	f.Advance(5 * time.Second)
	v, ok := received(tk.C())
	if !ok || !v.Equal(at(time.Second)) {
		t.Fatalf("first tick = %v (fired %v), want %v", v, ok, at(time.Second))
	}
	if v, ok := received(tk.C()); ok {
		t.Fatalf("a second pending tick %v; a ticker keeps at most one", v)
	}
	// The ticker keeps its phase: the next tick is at 6 s, not 5 s + 1 s
	// measured from the read.
	f.Advance(999 * time.Millisecond)
	if v, ok := received(tk.C()); ok {
		t.Fatalf("ticked at %v, before 6 s", v)
	}
	f.Advance(time.Millisecond)
	if v, ok := received(tk.C()); !ok || !v.Equal(at(6*time.Second)) {
		t.Fatalf("tick after draining = %v (fired %v), want %v", v, ok, at(6*time.Second))
	}
}

func TestFakeTickerTicksEveryPeriod(t *testing.T) {
	f := clock.NewFake(start)
	tk := f.NewTicker(10 * time.Second)
	defer tk.Stop()
	for i := 1; i <= 5; i++ {
		f.Advance(10 * time.Second)
		want := at(time.Duration(i) * 10 * time.Second)
		if v, ok := received(tk.C()); !ok || !v.Equal(want) {
			t.Fatalf("tick %d = %v (fired %v), want %v", i, v, ok, want)
		}
	}
}

func TestFakeTimerStop(t *testing.T) {
	tests := []struct {
		name string
		// before runs before the Stop under test.
		before   func(f *clock.Fake, tm clock.Timer)
		wantStop bool
	}{
		{"armed timer", func(*clock.Fake, clock.Timer) {}, true},
		{"already fired", func(f *clock.Fake, tm clock.Timer) { f.Advance(time.Second); <-tm.C() }, false},
		{"already stopped", func(_ *clock.Fake, tm clock.Timer) { tm.Stop() }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := clock.NewFake(start)
			tm := f.NewTimer(time.Second)
			tt.before(f, tm)
			if got := tm.Stop(); got != tt.wantStop {
				t.Errorf("Stop() = %v, want %v", got, tt.wantStop)
			}
			f.Advance(time.Hour)
			if v, ok := received(tm.C()); ok {
				t.Errorf("stopped timer fired at %v", v)
			}
			if n := f.Waiters(); n != 0 {
				t.Errorf("Waiters() = %d after Stop, want 0", n)
			}
		})
	}
}

func TestFakeTickerStop(t *testing.T) {
	f := clock.NewFake(start)
	tk := f.NewTicker(time.Second)
	f.Advance(time.Second)
	<-tk.C()
	tk.Stop()
	f.Advance(time.Hour)
	if v, ok := received(tk.C()); ok {
		t.Fatalf("stopped ticker ticked at %v", v)
	}
}

func TestFakeTimerReset(t *testing.T) {
	tests := []struct {
		name string
		// before runs before Reset(5s); it may move the clock.
		before func(f *clock.Fake, tm clock.Timer)
	}{
		{"armed timer", func(*clock.Fake, clock.Timer) {}},
		{"armed timer, later", func(f *clock.Fake, _ clock.Timer) { f.Advance(500 * time.Millisecond) }},
		{"stopped timer", func(_ *clock.Fake, tm clock.Timer) { tm.Stop() }},
		{"fired timer", func(f *clock.Fake, tm clock.Timer) { f.Advance(time.Second); <-tm.C() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := clock.NewFake(start)
			tm := f.NewTimer(time.Second)
			tt.before(f, tm)
			// Reset re-arms from the current time, whatever the state.
			want := f.Now().Add(5 * time.Second)
			tm.Reset(5 * time.Second)
			if n := f.Waiters(); n != 1 {
				t.Errorf("Waiters() = %d after Reset, want 1", n)
			}
			f.Advance(5*time.Second - time.Nanosecond)
			if v, ok := received(tm.C()); ok {
				t.Fatalf("fired at %v, before the new deadline %v", v, want)
			}
			f.Advance(time.Nanosecond)
			if v, ok := received(tm.C()); !ok || !v.Equal(want) {
				t.Fatalf("after Reset(5s): got %v (fired %v), want %v", v, ok, want)
			}
			f.Advance(time.Hour)
			if v, ok := received(tm.C()); ok {
				t.Fatalf("a reset timer fired twice, again at %v", v)
			}
		})
	}
}

func TestFakeTickerResetChangesPeriod(t *testing.T) {
	f := clock.NewFake(start)
	tk := f.NewTicker(time.Minute)
	defer tk.Stop()
	f.Advance(10 * time.Second)
	tk.Reset(30 * time.Second)
	f.Advance(50 * time.Second) // 60 s: the old period would tick here
	if v, ok := received(tk.C()); !ok || !v.Equal(at(40*time.Second)) {
		t.Fatalf("first tick after Reset(30s) at 10 s = %v (fired %v), want %v", v, ok, at(40*time.Second))
	}
	f.Advance(10 * time.Second) // 70 s
	if v, ok := received(tk.C()); !ok || !v.Equal(at(70*time.Second)) {
		t.Fatalf("second tick = %v (fired %v), want %v", v, ok, at(70*time.Second))
	}
}

func TestFakeWaiters(t *testing.T) {
	f := clock.NewFake(start)
	if n := f.Waiters(); n != 0 {
		t.Fatalf("new clock has %d waiters", n)
	}
	t1 := f.NewTimer(time.Second)
	f.NewTimer(time.Hour)
	tk := f.NewTicker(time.Minute)
	if n := f.Waiters(); n != 3 {
		t.Fatalf("Waiters() = %d with two timers and a ticker, want 3", n)
	}
	f.Advance(2 * time.Minute) // the 1 s timer fires; the ticker stays armed
	if n := f.Waiters(); n != 2 {
		t.Errorf("Waiters() = %d after one timer fired, want 2", n)
	}
	tk.Stop()
	if n := f.Waiters(); n != 1 {
		t.Errorf("Waiters() = %d after the ticker stopped, want 1", n)
	}
	t1.Reset(time.Second)
	if n := f.Waiters(); n != 2 {
		t.Errorf("Waiters() = %d after re-arming the fired timer, want 2", n)
	}
}

// TestFakeWaitersLetsATestSynchroniseWithCode shows the intended use: the
// code under test arms a timer in its own goroutine; the test waits until
// it is armed, then advances.
func TestFakeWaitersLetsATestSynchroniseWithCode(t *testing.T) {
	f := clock.NewFake(start)
	var wg sync.WaitGroup
	got := make(chan time.Time, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		tm := f.NewTimer(30 * time.Second)
		got <- <-tm.C()
	}()
	for f.Waiters() == 0 {
		runtime.Gosched()
	}
	f.Advance(30 * time.Second)
	wg.Wait()
	if v := <-got; !v.Equal(at(30 * time.Second)) {
		t.Fatalf("goroutine's timer sent %v, want %v", v, at(30*time.Second))
	}
}

func TestFakeIsSafeForConcurrentUse(t *testing.T) {
	// Run with -race: timers are made, stopped and reset from several
	// goroutines while another advances the clock.
	f := clock.NewFake(start)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				tm := f.NewTimer(time.Duration(i) * time.Millisecond)
				tm.Reset(time.Millisecond)
				tm.Stop()
				_ = f.Now()
				_ = f.Waiters()
			}
		}()
	}
	for i := 0; i < 200; i++ {
		f.Advance(time.Millisecond)
	}
	wg.Wait()
}

func TestFakeNewTickerRefusesNonPositiveInterval(t *testing.T) {
	// time.NewTicker panics too: a zero interval would spin forever.
	for _, d := range []time.Duration{0, -time.Second} {
		t.Run(d.String(), func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("NewTicker(%v) did not panic", d)
				}
			}()
			clock.NewFake(start).NewTicker(d)
		})
	}
}

func TestRealImplementsClock(t *testing.T) {
	var c clock.Clock = clock.Real{}
	if c.Now().IsZero() {
		t.Fatal("Real.Now() is the zero time")
	}
	tm := c.NewTimer(time.Nanosecond)
	<-tm.C() // fires; no assertion on how fast
	long := c.NewTimer(time.Hour)
	if !long.Stop() {
		t.Error("Stop() of an armed real timer = false, want true")
	}
	tk := c.NewTicker(time.Nanosecond)
	<-tk.C()
	tk.Stop()
}
