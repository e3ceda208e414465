package guard

import (
	"log/slog"
	"time"

	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/internal/clock"
)

// Defaults for the zero fields of Options.
const (
	// DefaultMinDeadline is the shortest time a device call may take:
	// far longer than any healthy write of a small block, short enough
	// that a stop or a shutdown is not held up for long.
	DefaultMinDeadline = 2 * time.Second
	// DefaultOpenTimeout bounds one attempt to open the device.
	DefaultOpenTimeout = 10 * time.Second
	// DefaultMaxAbandoned bounds the calls stuck in the driver at once.
	DefaultMaxAbandoned = 3
	// DefaultBackoffBase and DefaultBackoffMax shape the delays between
	// attempts to reopen a failed device.
	DefaultBackoffBase = time.Second
	DefaultBackoffMax  = 30 * time.Second
)

// A call's deadline is at least this many blocks, and this many device
// buffers: a device may legitimately hold a write for a buffer or two.
const (
	deadlineBlocks  = 50
	deadlineBuffers = 4
)

// Options configure a Sink. Open is required.
type Options struct {
	// Open opens the device. It is called once by guard.Open and again
	// after every failure, on a goroutine of its own, and waited for at
	// most OpenTimeout. Every sink it returns must have the same format.
	Open func() (audio.Sink, error)
	// Clock runs the deadlines and the backoff; nil means the wall clock.
	Clock clock.Clock
	// Log receives failures, abandoned calls and recoveries; nil discards.
	Log *slog.Logger
	// Buffer is the device's buffer (its output latency). 0 means what the
	// sink reports (a Latency() time.Duration method), if anything.
	Buffer time.Duration
	// MinDeadline is the shortest deadline of a call (DefaultMinDeadline).
	MinDeadline time.Duration
	// OpenTimeout bounds one Open (DefaultOpenTimeout).
	OpenTimeout time.Duration
	// MaxAbandoned is how many calls may be stuck in the driver at once
	// before the Sink stops reopening the device (DefaultMaxAbandoned).
	MaxAbandoned int
	// BackoffBase and BackoffMax shape the full-jitter delay before each
	// attempt to reopen (DefaultBackoffBase, DefaultBackoffMax).
	BackoffBase, BackoffMax time.Duration
	// Rand draws the jitter (see backoff.New); nil means math/rand/v2.
	Rand func(n int64) int64
}

func (o Options) withDefaults() Options {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.MinDeadline <= 0 {
		o.MinDeadline = DefaultMinDeadline
	}
	if o.OpenTimeout <= 0 {
		o.OpenTimeout = DefaultOpenTimeout
	}
	if o.MaxAbandoned <= 0 {
		o.MaxAbandoned = DefaultMaxAbandoned
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = DefaultBackoffBase
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = DefaultBackoffMax
	}
	return o
}
