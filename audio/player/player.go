package player

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/audio/dsp"
	"github.com/loaxa/loaxa/internal/clock"
)

// Item is one thing to play.
type Item struct {
	// ID names the item in events.
	ID string
	// Open opens the source, already converted to the player's format. It
	// runs in the item's reader goroutine (it may block on the network) and
	// must honour ctx.
	Open func(ctx context.Context) (audio.Source, error)
	// Gain is the linear gain to fade in to.
	Gain float64
	// FadeIn is how long the fade from silence takes (0: start at Gain).
	FadeIn time.Duration
}

// EventKind tells what happened.
type EventKind int

// Event kinds.
const (
	// Started: the item's first sample was written to the sink.
	Started EventKind = iota + 1
	// Ended: the item played to its end; Err is set when
	// the source failed.
	Ended
	// Stopped: a Stop completed its fade; the item is closed.
	Stopped
	// Silent: a Mute completed its fade; the output is at silence.
	Silent
)

func (k EventKind) String() string {
	switch k {
	case Started:
		return "started"
	case Ended:
		return "ended"
	case Stopped:
		return "stopped"
	case Silent:
		return "silent"
	}
	return fmt.Sprintf("event(%d)", int(k))
}

// Event is reported to the agent.
type Event struct {
	Kind EventKind
	ID   string
	At   time.Time
	// Played is how many samples of the item reached the sink, for
	// resuming it later.
	Played int64
	Err    error
}

// Options configure a Player.
type Options struct {
	Sink  audio.Sink
	Clock clock.Clock
	Log   *slog.Logger
	// Block is the duration of one write to the sink while anything
	// changes: a fade, a volume ramp, the start and end of an item,
	// silence, a timed (live) source (default 10 ms).
	Block time.Duration
	// Batch is the duration of one write while an item that is not timed
	// (a file, a stream, a tone) plays on at a settled gain (default
	// DefaultBatch; at least Block, rounded to whole blocks). Each write
	// is a wake-up of the process, which on a small board costs more than
	// the audio it carries; a request (stop, mute, volume) waits for the
	// write in progress, so a batch is also how late a stop may start.
	Batch time.Duration
	// Prefetch is how much audio the reader of an item may read ahead
	// (default 200 ms): it absorbs network jitter. The reader decodes in
	// chunks of half of it (at least Batch), one wake-up each.
	Prefetch time.Duration
	// Latency is how long after a Write returns its samples are heard,
	// for a sink that cannot say (neither audio.PlayoutClock nor a
	// Latency method); timed sources schedule by it.
	Latency time.Duration
}

// DefaultBatch is Options.Batch's default. A request (a stop, and the
// emergency behind it) that arrives during a write waits for that write
// to return: up to a batch where it waited up to a block, so a stop
// starts at most Batch - Block later than with block-sized writes (30 ms
// by default, half that on average); what it then fades is paced in
// blocks. The agent's emergency, audible within 150 ms of its command,
// keeps that beside the fade (30 ms) and the device's buffer (40 ms).
const DefaultBatch = 40 * time.Millisecond

// Player owns the sink. Build it with New, run it with Run; every other
// method may be called from any goroutine.
type Player struct {
	opts   Options
	format audio.Format
	block  int // samples per block (interleaved)
	batch  int // samples per batch, a multiple of block
	chunk  int // samples per chunk a reader decodes at once, a multiple of block
	queue  int // chunks a reader may queue ahead
	reqs   chan func(*state)
	events chan Event

	levelBits atomic.Uint64 // math.Float64bits of the last block's dBFS
	starved   atomic.Uint64 // blocks of silence written because an item's source was late

	wg   sync.WaitGroup // item readers
	done chan struct{}  // closed when Run has returned
}

// New builds a Player on a sink.
func New(o Options) (*Player, error) {
	if o.Sink == nil {
		return nil, errors.New("player: no sink")
	}
	f := o.Sink.Format()
	if !f.Valid() {
		return nil, fmt.Errorf("player: sink %s has an unusable format %s", o.Sink, f)
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Block <= 0 {
		o.Block = 10 * time.Millisecond
	}
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.Prefetch <= 0 {
		o.Prefetch = 200 * time.Millisecond
	}
	frames := func(d time.Duration) int { return max(1, int(d.Seconds()*float64(f.Rate))) }
	block := frames(o.Block)
	batch := max(1, (frames(o.Batch)+block/2)/block) * block
	chunk := max(batch, (frames(o.Prefetch/2)+block/2)/block*block)
	prefetch := frames(o.Prefetch)
	p := &Player{
		opts:   o,
		format: f,
		block:  block * f.Channels,
		batch:  batch * f.Channels,
		chunk:  chunk * f.Channels,
		queue:  max(1, prefetch/chunk),
		reqs:   make(chan func(*state), 16),
		events: make(chan Event, 64),
		done:   make(chan struct{}),
	}
	p.levelBits.Store(math.Float64bits(dsp.Floor))
	return p, nil
}

// Format is the output format every item's source must produce.
func (p *Player) Format() audio.Format { return p.format }

// Events delivers what happened, in order.
func (p *Player) Events() <-chan Event { return p.events }

// Level is the RMS level of the last block written, in dBFS.
func (p *Player) Level() float64 { return math.Float64frombits(p.levelBits.Load()) }

// Underruns counts the gaps a listener hears: blocks of silence written
// because an item's source was late, plus the sink's own underruns when
// it counts them (a device that ran dry because the player was late).
func (p *Player) Underruns() uint64 {
	n := p.starved.Load()
	if u, ok := p.opts.Sink.(interface{ Underruns() int }); ok {
		n += uint64(max(0, u.Underruns()))
	}
	return n
}

// Play starts it (the output should be at silence: the arbiter stops the
// previous item first). A playing item is replaced without a fade.
func (p *Player) Play(it Item) { p.do(func(s *state) { s.play(it) }) }

// Stop fades the current item out over fade and closes it; a Stopped event
// follows. Stopping when nothing plays reports Stopped at once with the id.
func (p *Player) Stop(id string, fade time.Duration) { p.do(func(s *state) { s.stop(id, fade) }) }

// Mute fades the output to silence over fade and keeps the item running
// (silently); a Silent event follows. It is how relays switch mid-item.
func (p *Player) Mute(fade time.Duration) { p.do(func(s *state) { s.mute(fade) }) }

// Unmute fades back in to the item's gain.
func (p *Player) Unmute(fade time.Duration) { p.do(func(s *state) { s.unmute(fade) }) }

// SetGain ramps the current item to a new gain (a volume change).
func (p *Player) SetGain(g float64) { p.do(func(s *state) { s.setGain(g) }) }

// KeepAlive makes the player write silence while idle (true while the
// amplifier is on), so the device keeps running and an item starts within
// one block; false lets the sink go idle.
func (p *Player) KeepAlive(on bool) { p.do(func(s *state) { s.keepAlive = on }) }

func (p *Player) do(f func(*state)) {
	select {
	case p.reqs <- f:
	case <-p.done:
	}
}
