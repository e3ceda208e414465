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
	chunks chan []int16 // filled by the reader; closed at the source's end
	// free takes the chunks Run has played back to the reader, which
	// fills them again: steady play allocates nothing (no garbage to
	// collect, no fresh pages to fault in).
	free chan []int16
	errc chan error // the reader's final error (nil at a clean end)
	// readerDone is set when the reader has queued its last chunk.
	readerDone atomic.Bool
	played     int64 // samples written
	started    bool
	// stopping is set once a Stop began its fade.
	stopping bool
	muting   bool
	muted    bool
	chunk    []int16 // the chunk being played, whole, to give back
	leftover []int16 // the part of it not played yet
	// handoff carries a timed source from the reader to Run, which then
	// reads it itself (direct.go); direct is that source once taken.
	handoff chan audio.TimedSource
	direct  audio.TimedSource
}

// recycle gives the chunk being played back to the reader.
func (c *current) recycle() {
	if c.chunk == nil {
		return
	}
	select {
	case c.free <- c.chunk[:cap(c.chunk)]:
	default:
	}
	c.chunk, c.leftover = nil, nil
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
	buf       []int16 // one batch
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
		buf:     make([]int16, p.batch),
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
		got = s.next(c, s.size(c))
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

// size is how many samples the next write of c holds: a batch while c
// plays on unchanged with a batch of audio in hand, else a block, so that
// fades, ramps, starts and ends move at the block's pace and a request
// waiting in the queue is not held up behind a batch.
func (s *state) size(c *current) int {
	p := s.p
	if p.batch == p.block || c.direct != nil || !c.started || c.stopping || c.muting || len(p.reqs) > 0 || !s.gain.Done() {
		return p.block
	}
	if len(c.leftover) >= p.batch || len(c.chunks) > 0 {
		return p.batch
	}
	return p.block
}

// receive takes the reader's next chunk. When wait is set and none is
// ready, it waits up to half a block for one: the device's buffer covers
// that, and a reader a moment late then costs nothing rather than a
// block of silence. got is false when nothing came; ok false at the end.
func (s *state) receive(c *current, wait bool) (b []int16, ok, got bool) {
	select {
	case b, ok = <-c.chunks:
		return b, ok, true
	default:
	}
	if !wait {
		return nil, false, false
	}
	t := s.p.opts.Clock.NewTimer(s.p.opts.Block / 2)
	defer t.Stop()
	select {
	case b, ok = <-c.chunks:
		return b, ok, true
	case <-t.C():
		return nil, false, false
	case <-s.ctx.Done():
		return nil, false, false
	}
}

// next returns the item's next n samples (in s.buf), or nil when its
// source is late (silence is written instead) or has ended (the item is
// finished). Short of audio part way, it pads with silence to a whole
// block.
func (s *state) next(c *current, n int) []int16 {
	if got, handled := s.nextDirect(c); handled {
		return got
	}
	if !c.started && len(c.chunks) < preroll && !c.readerDone.Load() {
		// Pre-roll: start only with a little audio in hand, so a source
		// that is slow to get going does not stutter in its first blocks.
		return nil
	}
	buf := s.buf[:n]
	pad := func(k int) []int16 {
		c.played += int64(k)
		end := min(n, (k+s.p.block-1)/s.p.block*s.p.block)
		clear(buf[k:end])
		return buf[:end]
	}
	k := 0
	for k < n {
		if len(c.leftover) == 0 {
			c.recycle()
			b, ok, got := s.receive(c, k == 0 && c.started)
			switch {
			case got && !ok:
				if k > 0 {
					return pad(k)
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
				c.chunk, c.leftover = b, b
			case k == 0:
				if c.started {
					s.p.starved.Add(1)
				}
				return nil
			default:
				return pad(k) // a short block: pad rather than wait
			}
		}
		m := copy(buf[k:], c.leftover)
		c.leftover = c.leftover[m:]
		k += m
	}
	c.played += int64(k)
	return buf
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
		chunks: make(chan []int16, s.p.queue),
		free:   make(chan []int16, s.p.queue+3), // the queue, Run's, the reader's held and filling
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
	go s.p.read(ctx, it, c)
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
// resume point, and queues chunks until the source ends, fails, or ctx ends.
func (p *Player) read(ctx context.Context, it Item, c *current) {
	defer p.wg.Done()
	err := p.readAll(ctx, it, c)
	if errors.Is(err, errHandedOff) {
		return // Run reads the source itself and ends the item
	}
	defer close(c.chunks)
	c.readerDone.Store(true)
	c.errc <- err
}

// preroll is how many chunks an item must have queued before it starts:
// the first chunk (firstChunk blocks) is a little audio in hand.
const preroll = 1

// firstChunk is how many blocks each of the first two chunks of an item
// holds. The reader holds a chunk back until it has read the next, so an
// item starts once two chunks are in: small ones start a source that
// trickles in (a stream without a burst on connect) after 80 ms of its
// audio, not 200. Later chunks are Player.chunk samples: a reader wakes
// once per chunk, and on a small board each wake-up (a context switch,
// the Go scheduler looking for work) costs more than decoding the audio.
const firstChunk = 4

func (p *Player) readAll(ctx context.Context, it Item, c *current) error {
	src, err := it.Open(ctx)
	if err != nil {
		return err
	}
	if src.Format() != p.format {
		src.Close()
		return errors.New("player: source format " + src.Format().String() + " is not the output format " + p.format.String())
	}
	if ts, ok := src.(audio.TimedSource); ok {
		return handOff(ctx, ts, c.handoff)
	}
	defer src.Close()
	send := func(b []int16) error {
		select {
		case c.chunks <- b:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	size, small := min(p.chunk, firstChunk*p.block), 2
	// One chunk is held back so that when the source ends its last block
	// can be faded out: a source that stops mid-waveform would click.
	var held []int16
	for {
		var buf []int16
		select {
		case buf = <-c.free:
		default:
			buf = make([]int16, p.chunk)
		}
		n, rerr := readFull(src, buf[:size])
		if small--; small == 0 {
			size = p.chunk
		}
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
