package backoff_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/loaxa/loaxa/internal/backoff"
	"github.com/loaxa/loaxa/internal/clock"
)

// highest draws the top of the range, so Next returns the ceiling itself.
func highest(n int64) int64 { return n - 1 }

// lowest draws the bottom of the range.
func lowest(int64) int64 { return 0 }

// seeded is a deterministic source of uniform draws.
func seeded() func(int64) int64 { return rand.New(rand.NewPCG(1, 2)).Int64N }

func TestCeilingDoublesFromBaseToMaxAndStays(t *testing.T) {
	s := time.Second
	tests := []struct {
		name      string
		base, max time.Duration
		want      []time.Duration // successive ceilings, one per Next
	}{
		{"mqtt reconnect 1s to 60s", s, 60 * s, []time.Duration{s, 2 * s, 4 * s, 8 * s, 16 * s, 32 * s, 60 * s, 60 * s, 60 * s}},
		{"max a power of two of base", s, 8 * s, []time.Duration{s, 2 * s, 4 * s, 8 * s, 8 * s}},
		{"base equals max", 5 * s, 5 * s, []time.Duration{5 * s, 5 * s, 5 * s}},
		{"sub-second base", 100 * time.Millisecond, s, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, s, s}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := backoff.New(tt.base, tt.max, clock.NewFake(time.Unix(0, 0)), highest)
			for i, want := range tt.want {
				if got := b.Ceiling(); got != want {
					t.Fatalf("attempt %d: Ceiling() = %v, want %v", i, got, want)
				}
				// With the highest draw, the delay is the ceiling itself.
				if got := b.Next(); got != want {
					t.Fatalf("attempt %d: Next() = %v, want %v", i, got, want)
				}
			}
		})
	}
}

func TestCeilingStaysAtMaxAfterManyFailures(t *testing.T) {
	// A pole whose broker is away for days fails thousands of times; the
	// ceiling must neither overflow nor wrap to a tiny value.
	b := backoff.New(time.Second, time.Minute, nil, highest)
	for i := 0; i < 10000; i++ {
		b.Next()
	}
	if got := b.Ceiling(); got != time.Minute {
		t.Fatalf("Ceiling() after 10000 failures = %v, want 1m0s", got)
	}
	if got := b.Next(); got != time.Minute {
		t.Fatalf("Next() after 10000 failures = %v, want 1m0s", got)
	}
}

func TestNextStaysWithinZeroAndCeiling(t *testing.T) {
	tests := []struct {
		name string
		rnd  func(int64) int64
	}{
		{"highest draw", highest},
		{"lowest draw", lowest},
		{"seeded uniform", seeded()},
		{"math/rand default", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := backoff.New(time.Second, 60*time.Second, nil, tt.rnd)
			for i := 0; i < 500; i++ {
				c := b.Ceiling()
				d := b.Next()
				if d < 0 || d > c {
					t.Fatalf("attempt %d: Next() = %v, outside [0, %v]", i, d, c)
				}
			}
		})
	}
}

func TestZeroBaseNeverWaits(t *testing.T) {
	called := false
	b := backoff.New(0, time.Minute, nil, func(n int64) int64 { called = true; return n - 1 })
	for i := 0; i < 5; i++ {
		if d := b.Next(); d != 0 {
			t.Fatalf("Next() = %v with a zero base, want 0", d)
		}
	}
	if called {
		t.Error("rand was called for an empty range")
	}
}

func TestReset(t *testing.T) {
	b := backoff.New(time.Second, time.Minute, nil, highest)
	for i := 0; i < 5; i++ {
		b.Next()
	}
	if b.Ceiling() == time.Second {
		t.Fatal("setup: the ceiling did not grow")
	}
	b.Reset()
	if got := b.Ceiling(); got != time.Second {
		t.Fatalf("Ceiling() after Reset = %v, want the base 1s", got)
	}
	if got := b.Next(); got != time.Second {
		t.Fatalf("Next() after Reset = %v, want 1s", got)
	}
	if got := b.Ceiling(); got != 2*time.Second {
		t.Fatalf("Ceiling() after Reset and one failure = %v, want 2s", got)
	}
}

func TestFullJitterSpreadsRetries(t *testing.T) {
	// Thousands of poles retrying after a broker restart must not come back
	// in one wave: at the cap, delays cover the whole [0, cap] range.
	const draws = 1000
	cap := time.Minute
	b := backoff.New(time.Second, cap, nil, seeded())
	for b.Ceiling() < cap {
		b.Next()
	}
	lo, hi, sum := cap, time.Duration(0), time.Duration(0)
	for i := 0; i < draws; i++ {
		d := b.Next()
		lo, hi, sum = min(lo, d), max(hi, d), sum+d
	}
	if lo >= cap/10 {
		t.Errorf("smallest of %d delays = %v, want < %v", draws, lo, cap/10)
	}
	if hi <= 9*cap/10 {
		t.Errorf("largest of %d delays = %v, want > %v", draws, hi, 9*cap/10)
	}
	if mean := sum / draws; mean < 2*cap/5 || mean > 3*cap/5 {
		t.Errorf("mean of %d delays = %v, want near %v", draws, mean, cap/2)
	}
}

// waitResult runs b.Wait(ctx) in a goroutine and returns its result channel.
func waitResult(ctx context.Context, b *backoff.Backoff) <-chan error {
	done := make(chan error, 1)
	go func() { done <- b.Wait(ctx) }()
	return done
}

// armed waits until the code under test has armed its timer.
func armed(f *clock.Fake, n int) {
	for f.Waiters() < n {
		runtime.Gosched()
	}
}

func TestWaitReturnsAfterTheDelayOfFakeTime(t *testing.T) {
	f := clock.NewFake(time.Unix(0, 0))
	// The draw is always half the range, so the first delay is 500 ms.
	b := backoff.New(time.Second, time.Minute, f, func(n int64) int64 { return n / 2 })
	done := waitResult(context.Background(), b)
	armed(f, 1)

	f.Advance(499 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Wait returned (%v) before its delay of fake time", err)
	default:
	}
	f.Advance(time.Millisecond)
	if err := <-done; err != nil {
		t.Fatalf("Wait() = %v, want nil", err)
	}
	if n := f.Waiters(); n != 0 {
		t.Errorf("%d timers left armed after Wait", n)
	}
	if got := b.Ceiling(); got != 2*time.Second {
		t.Errorf("Ceiling() after one Wait = %v, want 2s", got)
	}
}

func TestWaitHonoursContext(t *testing.T) {
	tests := []struct {
		name string
		// end makes a context that ends while Wait waits (or before).
		end func() (context.Context, context.CancelFunc)
		// cancel: the test cancels once Wait has armed its timer.
		cancel bool
		want   error
	}{
		{"cancelled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			return ctx, cancel
		}, true, context.Canceled},
		{"deadline of the caller", func() (context.Context, context.CancelFunc) {
			// The context's own deadline is wall-clock time; Wait must
			// give up on it even though the fake clock never moves.
			return context.WithTimeout(context.Background(), time.Millisecond)
		}, false, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := clock.NewFake(time.Unix(0, 0))
			b := backoff.New(time.Minute, time.Hour, f, highest)
			ctx, cancel := tt.end()
			defer cancel()
			done := waitResult(ctx, b)
			if tt.cancel {
				armed(f, 1)
				cancel()
			}
			// No Advance: only the context can end this Wait.
			if err := <-done; !errors.Is(err, tt.want) {
				t.Fatalf("Wait() = %v, want %v", err, tt.want)
			}
			if n := f.Waiters(); n != 0 {
				t.Errorf("%d timers left armed after Wait gave up", n)
			}
		})
	}
}

func TestWaitWithEndedContextReturnsAtOnce(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f := clock.NewFake(time.Unix(0, 0))
	b := backoff.New(time.Minute, time.Hour, f, highest)
	if err := b.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait() with an ended context = %v, want context.Canceled", err)
	}
	if n := f.Waiters(); n != 0 {
		t.Errorf("%d timers left armed", n)
	}
}

func TestWaitWithRealClock(t *testing.T) {
	// nil clock means the wall clock; a nanosecond base keeps this instant.
	b := backoff.New(time.Nanosecond, time.Nanosecond, nil, nil)
	if err := b.Wait(context.Background()); err != nil {
		t.Fatalf("Wait() = %v", err)
	}
}
