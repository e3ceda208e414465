package player

import (
	"context"
	"errors"
	"io"
	"math"
	"sync/atomic"
	"time"

	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/audio/dsp"
)

// current is the item being played, owned by the Run goroutine.
type current struct {
	it     Item
	cancel context.CancelFunc
	blocks chan []int16 // filled by the reader; closed at the source's end
	errc   chan error   // the reader's final error (nil at a clean end)
	// readerDone is set when the reader has queued its last block.
	readerDone atomic.Bool
	played     int64 // samples written
	started    bool
	// stopping is set once a Stop began its fade.
	stopping bool
	muting   bool
	muted    bool
	leftover []int16
	// handoff carries a timed source from the reader to Run, which then
	// reads it itself (direct.go); direct is that source once taken.
	handoff chan audio.TimedSource
	direct  audio.TimedSource
}

// state is everything the Run goroutine owns.
type state struct {
	p         *Player
	ctx       context.Context
	cur       *current
	gain      *dsp.Gainer
	keepAlive bool
	drained   bool // the sink has been drained since the last write
	silence   []int16
	buf       []int16
	// devClock is when the next sample written is heard, as estimated for
	// a sink that cannot say (direct.go).
	devClock time.Time
}

// Run feeds the sink until ctx ends, then stops every reader and returns.
// It does not close the sink: the caller owns it.
func (p *Player) Run(ctx context.Context) error {
	defer close(p.done)
	s := &state{
		p:       p,
		ctx:     ctx,
		gain:    dsp.NewGainer(p.format, 0, 0),
		silence: make([]int16, p.block),
		drained: true,
		buf:     make([]int16, p.block),
	}
	defer func() {
		if s.cur != nil {
			s.cur.cancel()
			s.cur.closeDirect()
		}
		p.wg.Wait()
	}()
	for {
		// Requests first: a stop must not wait behind audio.
		for drained := false; !drained; {
			select {
			case f := <-p.reqs:
				f(s)
			default:
				drained = true
			}
		}
		if s.cur == nil && !s.keepAlive {
			p.levelBits.Store(math.Float64bits(dsp.Floor))
			if !s.drained {
				// The device goes idle: let it play out what it holds, so
				// the silence that follows is not taken for an underrun.
				s.drained = true
				if d, ok := p.opts.Sink.(interface{ Drain() error }); ok {
					if err := d.Drain(); err != nil {
						p.opts.Log.Warn("audio drain", "sink", p.opts.Sink.String(), "err", err)
					}
				}
			}
			select {
			case <-ctx.Done():
				return nil
			case f := <-p.reqs:
				f(s)
			}
			continue
		}
		if ctx.Err() != nil {
			return nil
		}
		s.drained = false
		if err := s.step(); err != nil {
			s.outputFailed(err)
			// A failing device is retried after a pause rather than spun on.
			t := p.opts.Clock.NewTimer(time.Second)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C():
			}
		}
	}
}

// step writes one block: the current item's audio, or silence.
func (s *state) step() error {
	p := s.p
	c := s.cur
	var got []int16
	if c != nil {
		got = s.next(c)
	}
	out := s.silence
	if got != nil {
		s.gain.Process(got)
		out = got
	} else if c != nil && s.cur == c && (c.stopping || c.muting) {
		// The source is late: the output is silence, and a fade-out in
		// progress still runs its course (zeros stay zeros). A fade-in
		// waits for the audio it is meant to shape.
		s.gain.Process(s.silence)
	}
	p.levelBits.Store(math.Float64bits(dsp.Level(out)))
	if err := p.opts.Sink.Write(out); err != nil {
		return err
	}
	if c == nil || s.cur != c {
		return nil
	}
	if got != nil && !c.started {
		c.started = true
		s.emit(Event{Kind: Started, ID: c.it.ID, At: p.opts.Clock.Now(), Played: c.played})
	}
	switch {
	case c.stopping && s.gain.Done():
		s.finish(Stopped, nil)
	case c.muting && s.gain.Done():
		c.muting, c.muted = false, true
		s.emit(Event{Kind: Silent, ID: c.it.ID, At: p.opts.Clock.Now(), Played: c.played})
	}
	return nil
}

// receive takes the reader's next block. When wait is set and none is
// ready, it waits up to half a block for one: the device's buffer covers
// that, and a reader a moment late then costs nothing rather than a
// block of silence. got is false when nothing came; ok false at the end.
func (s *state) receive(c *current, wait bool) (b []int16, ok, got bool) {
	select {
	case b, ok = <-c.blocks:
		return b, ok, true
	default:
	}
	if !wait {
		return nil, false, false
	}
	t := s.p.opts.Clock.NewTimer(s.p.opts.Block / 2)
	defer t.Stop()
	select {
	case b, ok = <-c.blocks:
		return b, ok, true
	case <-t.C():
		return nil, false, false
	case <-s.ctx.Done():
		return nil, false, false
	}
}

// next returns the item's next block (into s.buf), or nil when its source
// is late (silence is written instead) or has ended (the item is finished).
func (s *state) next(c *current) []int16 {
	if got, handled := s.nextDirect(c); handled {
		return got
	}
	if !c.started && len(c.blocks) < preroll && !c.readerDone.Load() {
		// Pre-roll: start only with a little audio in hand, so a source
		// that is slow to get going does not stutter in its first blocks.
		return nil
	}
	n := 0
	for n < len(s.buf) {
		if len(c.leftover) == 0 {
			b, ok, got := s.receive(c, n == 0 && c.started)
			switch {
			case got && !ok:
				if n > 0 {
					clear(s.buf[n:])
					c.played += int64(n)
					return s.buf
				}
				var err error
				select {
				case err = <-c.errc:
				default:
				}
				if c.stopping {
					s.finish(Stopped, nil)
				} else {
					s.finish(Ended, err)
				}
				return nil
			case got:
				c.leftover = b
			case n == 0:
				if c.started {
					s.p.starved.Add(1)
				}
				return nil
			default:
				clear(s.buf[n:]) // a short block: pad rather than wait
				c.played += int64(n)
				return s.buf
			}
		}
		k := copy(s.buf[n:], c.leftover)
		c.leftover = c.leftover[k:]
		n += k
	}
	c.played += int64(n)
	return s.buf
}

func (s *state) emit(ev Event) {
	select {
	case s.p.events <- ev:
	case <-s.ctx.Done():
	}
}

// finish closes the current item and reports it.
func (s *state) finish(kind EventKind, err error) {
	c := s.cur
	s.cur = nil
	c.cancel()
	c.closeDirect()
	s.gain.RampTo(0, 0)
	s.emit(Event{Kind: kind, ID: c.it.ID, At: s.p.opts.Clock.Now(), Played: c.played, Err: err})
}

func (s *state) play(it Item) {
	if s.cur != nil {
		s.cur.stopping = true
		s.finish(Stopped, nil)
	}
	ctx, cancel := context.WithCancel(s.ctx)
	c := &current{
		it:     it,
		cancel: cancel,
		blocks: make(chan []int16, max(1, int(s.p.opts.Prefetch/(readChunk*s.p.opts.Block)))),
		errc:   make(chan error, 1),
		// Unbuffered: a source is handed over only to a Run that takes it.
		handoff: make(chan audio.TimedSource),
	}
	s.cur = c
	if it.FadeIn > 0 {
		s.gain.FadeIn(it.Gain, it.FadeIn)
	} else {
		s.gain.RampTo(it.Gain, 0)
	}
	s.p.wg.Add(1)
	go s.p.read(ctx, it, c, c.blocks, c.errc, &c.readerDone)
}

func (s *state) stop(id string, fade time.Duration) {
	c := s.cur
	if c == nil || (id != "" && c.it.ID != id) {
		s.emit(Event{Kind: Stopped, ID: id, At: s.p.opts.Clock.Now()})
		return
	}
	c.stopping = true
	if c.muted || fade <= 0 {
		s.finish(Stopped, nil)
		return
	}
	s.gain.FadeOut(fade)
}

func (s *state) mute(fade time.Duration) {
	c := s.cur
	switch {
	case c == nil:
		s.emit(Event{Kind: Silent, At: s.p.opts.Clock.Now()})
	case c.muted:
		// Already silent: say so for this item, or the caller waits forever.
		s.emit(Event{Kind: Silent, ID: c.it.ID, At: s.p.opts.Clock.Now(), Played: c.played})
	default:
		c.muting = true
		s.gain.FadeOut(fade)
	}
}

func (s *state) unmute(fade time.Duration) {
	c := s.cur
	if c == nil {
		return
	}
	c.muting, c.muted = false, false
	s.gain.RampTo(c.it.Gain, fade)
}

func (s *state) setGain(g float64) {
	c := s.cur
	if c == nil {
		return
	}
	c.it.Gain = g
	if !c.muting && !c.muted && !c.stopping {
		s.gain.SetGain(g)
	}
}

// read is an item's reader goroutine: it opens the source, skips to the
// resume point, and queues blocks until the source ends, fails, or ctx ends.
func (p *Player) read(ctx context.Context, it Item, c *current, blocks chan<- []int16, errc chan<- error, done *atomic.Bool) {
	defer p.wg.Done()
	err := p.readAll(ctx, it, c.handoff, blocks)
	if errors.Is(err, errHandedOff) {
		return // Run reads the source itself and ends the item
	}
	defer close(blocks)
	done.Store(true)
	errc <- err
}

// preroll is how many chunks an item must have queued before it starts:
// one chunk (readChunk blocks, 40 ms) is a little audio in hand.
const preroll = 1

// readChunk is how many blocks a reader reads and queues at once. The
// reader then wakes every 40 ms instead of every block: on a small board
// each wake-up (a context switch, the Go scheduler looking for work) costs
// more than reading the audio.
const readChunk = 4

func (p *Player) readAll(ctx context.Context, it Item, handoff chan<- audio.TimedSource, blocks chan<- []int16) error {
	src, err := it.Open(ctx)
	if err != nil {
		return err
	}
	if src.Format() != p.format {
		src.Close()
		return errors.New("player: source format " + src.Format().String() + " is not the output format " + p.format.String())
	}
	if ts, ok := src.(audio.TimedSource); ok {
		return handOff(ctx, ts, handoff)
	}
	defer src.Close()
	send := func(b []int16) error {
		select {
		case blocks <- b:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// One block is held back so that when the source ends its last block
	// can be faded out: a source that stops mid-waveform would click.
	var held []int16
	for {
		buf := make([]int16, p.block*readChunk)
		n, rerr := readFull(src, buf)
		if b := buf[:n-n%p.format.Channels]; len(b) > 0 {
			if held != nil {
				if err := send(held); err != nil {
					return nil // stopped
				}
			}
			held = b
		}
		if rerr == nil {
			continue
		}
		if held != nil {
			fadeTail(held[max(0, len(held)-p.block):], p.format.Channels)
			if err := send(held); err != nil {
				return nil
			}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) || ctx.Err() != nil {
			return nil
		}
		return rerr
	}
}

// fadeTail ramps the last block of an item linearly down to silence.
func fadeTail(b []int16, channels int) {
	frames := len(b) / channels
	for f := range frames {
		g := float64(frames-1-f) / float64(frames)
		for c := range channels {
			i := f*channels + c
			b[i] = int16(math.Round(float64(b[i]) * g))
		}
	}
}

// readFull reads until p is full, the source ends (io.EOF with the samples
// read so far), or it fails.
func readFull(src audio.Source, p []int16) (int, error) {
	n, empty := 0, 0
	for n < len(p) {
		k, err := src.Read(p[n:])
		n += k
		if err != nil {
			return n, err
		}
		if k == 0 {
			if empty++; empty > 100 {
				return n, io.ErrNoProgress
			}
		}
	}
	return n, nil
}
