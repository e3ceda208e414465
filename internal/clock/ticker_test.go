package clock

import (
	"testing"
	"time"
)

// realFDTicker returns a System ticker of d, which on Linux must be on a
// timerfd (the daemon's idle wake-ups depend on it).
func realFDTicker(t *testing.T, d time.Duration) *fdTicker {
	t.Helper()
	k, ok := System{}.NewTicker(d).(*fdTicker)
	if !ok {
		t.Fatalf("System.NewTicker is not on a timerfd on this Linux host")
	}
	return k
}

// pending waits until a tick waits in k's channel, not taken.
func pending(t *testing.T, k *fdTicker) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(k.c) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no tick within 10 s of a 5 ms ticker")
		}
		time.Sleep(time.Millisecond)
	}
}

// The ticker ticks, and keeps at most one tick for a slow reader, like
// time.Ticker.
func TestRealTickerTicks(t *testing.T) {
	k := realFDTicker(t, 5*time.Millisecond)
	defer k.Stop()
	for range 3 {
		select {
		case <-k.C():
		case <-time.After(10 * time.Second):
			t.Fatal("no tick within 10 s of a 5 ms ticker")
		}
	}
	time.Sleep(50 * time.Millisecond) // ten periods, nobody reading
	if n := len(k.c); n != 1 {
		t.Errorf("%d ticks kept for a slow reader, want 1", n)
	}
}

// As with time.Ticker (see clock_stale_test.go), no tick from before a
// Stop or a Reset is received after it, and Stop ends the ticker's
// goroutine.
func TestRealTickerNoStaleTick(t *testing.T) {
	t.Run("Reset", func(t *testing.T) {
		k := realFDTicker(t, 5*time.Millisecond)
		defer k.Stop()
		pending(t, k)
		k.Reset(time.Hour)
		select {
		case v := <-k.C():
			t.Fatalf("received %v, from before the Reset", v)
		case <-time.After(50 * time.Millisecond):
		}
	})
	t.Run("Stop", func(t *testing.T) {
		k := realFDTicker(t, 5*time.Millisecond)
		pending(t, k)
		k.Stop()
		select {
		case <-k.done:
		default:
			t.Fatal("the ticker's goroutine runs on after Stop")
		}
		select {
		case v := <-k.C():
			t.Fatalf("received %v after Stop", v)
		case <-time.After(50 * time.Millisecond):
		}
		k.Stop() // again: nothing
		k.Reset(time.Millisecond)
		select {
		case v := <-k.C():
			t.Fatalf("received %v after Reset of a stopped ticker", v)
		case <-time.After(50 * time.Millisecond):
		}
	})
}
