package backoff

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/loaxa/loaxa/internal/clock"
)

// Backoff computes successive retry delays. The zero value is not usable;
// build one with New. A Backoff is not safe for concurrent use: it belongs to
// the one retry loop that owns it.
type Backoff struct {
	base, max time.Duration
	clock     clock.Clock
	rand      func(n int64) int64
	attempt   int
}

// New returns a Backoff whose ceiling starts at base and doubles after every
// failure up to max. rnd may be nil (math/rand/v2); tests pass a fixed one.
func New(base, max time.Duration, clk clock.Clock, rnd func(n int64) int64) *Backoff {
	if rnd == nil {
		rnd = rand.Int64N
	}
	if clk == nil {
		clk = clock.Real{}
	}
	return &Backoff{base: base, max: max, clock: clk, rand: rnd}
}

// Ceiling is the upper bound of the next delay: min(max, base·2^attempt).
func (b *Backoff) Ceiling() time.Duration {
	d := b.base
	for i := 0; i < b.attempt && d < b.max; i++ {
		d *= 2
	}
	return min(d, b.max)
}

// Next returns the delay before the next attempt, uniformly drawn from
// [0, Ceiling()], and raises the ceiling for the attempt after.
func (b *Backoff) Next() time.Duration {
	c := b.Ceiling()
	b.attempt++
	if c <= 0 {
		return 0
	}
	return time.Duration(b.rand(int64(c) + 1))
}

// Reset returns the ceiling to base; call it after a success.
func (b *Backoff) Reset() { b.attempt = 0 }

// Wait sleeps for Next() or until ctx ends, whichever comes first, and
// returns ctx.Err() in the latter case.
func (b *Backoff) Wait(ctx context.Context) error {
	t := b.clock.NewTimer(b.Next())
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C():
		return nil
	}
}
