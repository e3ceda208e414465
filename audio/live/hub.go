package live

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/internal/clock"
)

// Defaults of Options.
const (
	DefaultTarget       = 200 * time.Millisecond
	DefaultSilenceAfter = 3 * time.Second
)

// MaxSeqJump is how far (in frames, either way) a frame's seq may be from
// the play-out point and still belong to the same talk: 1500 frames is 30 s
// of 20 ms frames, far beyond any reordering, yet a sender that restarted
// with a fresh seq is recognised at once.
const MaxSeqJump = 1500

// badFrameEvery limits EventBadFrame to one per second per Hub: a broken or
// hostile sender at 50 frames a second must not flood the event topic.
const badFrameEvery = time.Second

// Options configure a Hub. The zero value is usable.
type Options struct {
	// Clock times silence and measures latency; nil means clock.Real.
	Clock clock.Clock
	// Logger receives one line per event; nil discards.
	Logger *slog.Logger
	// Target is the latency the jitter buffer fills to before it plays;
	// zero or negative means DefaultTarget.
	Target time.Duration
	// MaxLatency bounds the buffer: beyond it the oldest frames are
	// dropped down to Target. Values below Target (zero included) mean
	// twice Target.
	MaxLatency time.Duration
	// SilenceAfter is how long a channel with an open Source may receive
	// nothing before EventSilent; zero or negative means
	// DefaultSilenceAfter.
	SilenceAfter time.Duration
	// OnEvent, if set, is called for every Event, from the goroutine that
	// caused it (Deliver's, Read's, or the Source's own). It must not block
	// and must not call back into the Hub or the Source.
	OnEvent func(Event)
}

// EventKind names an Event.
type EventKind string

// The events of a Hub.
const (
	// EventSilent: an open channel received nothing for SilenceAfter.
	EventSilent EventKind = "silent"
	// EventResumed: a silent channel received a frame again.
	EventResumed EventKind = "resumed"
	// EventBadFrame: frames were refused (Err says why the last one was;
	// Count how many since the previous report). Rate-limited.
	EventBadFrame EventKind = "bad_frame"
	// EventRestart: a frame started a new talk on an open channel (seq
	// jump or format change, see Err); the buffer was emptied.
	EventRestart EventKind = "restart"
)

// Event is something about a channel the agent may report.
type Event struct {
	Kind    EventKind
	Channel string
	Time    time.Time
	Err     error // EventBadFrame, EventRestart: why
	Count   int   // EventBadFrame: frames refused since the last report
}

func (e Event) String() string {
	s := fmt.Sprintf("live %s: %s", e.Channel, e.Kind)
	if e.Count > 1 {
		s += fmt.Sprintf(" ×%d", e.Count)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// HubStats counts what Deliver saw.
type HubStats struct {
	Frames   uint64 // valid frames
	Invalid  uint64 // frames refused by ParseFrame, or that Opus could not decode
	Unrouted uint64 // valid frames of channels no Source had open
}

// Hub receives the frames of every live channel and routes them to the
// Sources open on their channel. Its methods are safe for concurrent use.
type Hub struct {
	opts Options
	clk  clock.Clock
	log  *slog.Logger

	mu sync.Mutex // guards the fields below
	// sources is copied on write, so Deliver iterates it unlocked.
	sources    map[string][]*Source
	stats      HubStats
	badLast    time.Time // when the last EventBadFrame went out
	badPending int       // frames refused since then
}

// NewHub makes a Hub; opts are completed with their defaults.
func NewHub(opts Options) *Hub {
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Target <= 0 {
		opts.Target = DefaultTarget
	}
	if opts.MaxLatency < opts.Target {
		opts.MaxLatency = 2 * opts.Target
	}
	if opts.SilenceAfter <= 0 {
		opts.SilenceAfter = DefaultSilenceAfter
	}
	return &Hub{opts: opts, clk: opts.Clock, log: opts.Logger, sources: map[string][]*Source{}}
}

// Deliver hands the hub one message of loaxa/v1/live/{channel}, received
// at recv. It never blocks for long and never fails: a bad frame is counted
// and reported (EventBadFrame). It does not keep payload.
func (h *Hub) Deliver(channel string, payload []byte, recv time.Time) {
	f, err := ParseFrame(payload)
	if err != nil {
		h.badFrame(channel, err, recv)
		return
	}
	h.mu.Lock()
	h.stats.Frames++
	srcs := h.sources[channel]
	if len(srcs) == 0 {
		h.stats.Unrouted++
	}
	h.mu.Unlock()
	if len(srcs) == 0 {
		return
	}
	f.Payload = bytes.Clone(f.Payload) // shared read-only by the Sources
	for _, s := range srcs {
		s.deliver(f, recv)
	}
}

// Stats returns the hub's counters.
func (h *Hub) Stats() HubStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stats
}

// badFrame counts a refused frame and reports it, at most once per
// badFrameEvery.
func (h *Hub) badFrame(channel string, err error, now time.Time) {
	h.mu.Lock()
	h.stats.Invalid++
	h.badPending++
	if !h.badLast.IsZero() && now.Sub(h.badLast) < badFrameEvery && !now.Before(h.badLast) {
		h.mu.Unlock()
		return
	}
	n := h.badPending
	h.badPending, h.badLast = 0, now
	h.mu.Unlock()
	h.emit(Event{Kind: EventBadFrame, Channel: channel, Time: now, Err: err, Count: n})
}

func (h *Hub) emit(e Event) {
	level := slog.LevelInfo
	if e.Kind == EventBadFrame || e.Kind == EventRestart {
		level = slog.LevelWarn
	}
	h.log.Log(context.Background(), level, "live channel event", "channel", e.Channel, "event", string(e.Kind), "count", e.Count, "err", e.Err)
	if h.opts.OnEvent != nil {
		h.opts.OnEvent(e)
	}
}

// Open starts receiving channel and returns its audio as a Source at
// format out (which must be Valid, or Read fails saying so). The Source
// ends with io.EOF after the talk's last frame, and fails once ctx ends or
// it is closed; Close it to stop receiving. Several Sources may be open on
// one channel; each gets every frame.
func (h *Hub) Open(ctx context.Context, channel string, out audio.Format) *Source {
	return h.OpenWith(ctx, channel, out, OpenOptions{})
}

// OpenOptions are a Source's own options.
type OpenOptions struct {
	// Backlog is how much audio the Source keeps before its play-out
	// begins, so that what is said while the pole's output gets ready
	// (amplifier warm-up, relays) is not lost: ReadTimed plays it late,
	// then catches up by leaving out quiet frames. Zero (or less than
	// the hub's MaxLatency) means MaxLatency.
	Backlog time.Duration
	// Delay, when positive, makes the Source synchronised: through
	// ReadTimed, the sample captured at T (the frames' capture times, on
	// the sender's clock) is heard at T + Delay on this machine's clock.
	// Every pole whose clock is synchronised to the sender's plays the
	// talk in step. Zero: plain jitter-buffer play-out.
	Delay time.Duration
}

// OpenWith is Open with the Source's own options.
func (h *Hub) OpenWith(ctx context.Context, channel string, out audio.Format, o OpenOptions) *Source {
	s := newSource(h, channel, out)
	s.opts = o
	if s.err != nil {
		return s
	}
	h.mu.Lock()
	h.sources[channel] = append(slices.Clip(h.sources[channel]), s)
	h.mu.Unlock()
	s.start(ctx)
	return s
}

// remove unregisters s.
func (h *Hub) remove(s *Source) {
	h.mu.Lock()
	defer h.mu.Unlock()
	list := slices.DeleteFunc(slices.Clone(h.sources[s.channel]), func(x *Source) bool { return x == s })
	if len(list) == 0 {
		delete(h.sources, s.channel)
	} else {
		h.sources[s.channel] = list
	}
}
