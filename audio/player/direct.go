package player

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/loaxa/loaxa/audio"
)

// This file is the player's direct path for timed sources (live
// channels): Run reads them itself, block by block, just before writing
// to the sink, telling them when the block will be heard. A timed source
// read ahead into the prefetch queue would add the queue to its own
// latency, and its leading silence would be played (and counted) as the
// item's audio.

// errHandedOff ends a reader whose source Run now reads.
var errHandedOff = errors.New("player: source handed to the output")

// handOff gives a timed source to Run; if the item ends first, the source
// is closed here.
func handOff(ctx context.Context, ts audio.TimedSource, to chan<- audio.TimedSource) error {
	select {
	case to <- ts:
		return errHandedOff
	case <-ctx.Done():
		ts.Close()
		return nil
	}
}

// closeDirect closes the item's timed source, if Run took one.
func (c *current) closeDirect() {
	if c.direct != nil {
		c.direct.Close()
		c.direct = nil
	}
}

// nextDirect returns the next block of a timed item; handled is false
// when the item is not (yet) read directly.
func (s *state) nextDirect(c *current) (got []int16, handled bool) {
	if c.direct == nil {
		select {
		case ts := <-c.handoff:
			c.direct = ts
		default:
			return nil, false
		}
	}
	buf := s.buf[:s.p.block]
	n, err := c.direct.ReadTimed(buf, s.playoutTime())
	if n > 0 {
		clear(buf[n:])
		c.played += int64(n)
		return buf, true
	}
	if err == nil {
		return nil, true // nothing to play yet: silence that is not the item's
	}
	if errors.Is(err, io.EOF) {
		err = nil
	}
	if c.stopping {
		s.finish(Stopped, nil)
	} else {
		s.finish(Ended, err)
	}
	return nil, true
}

// playoutTime is when the next sample written to the sink will leave the
// loudspeaker: the sink says so (audio.PlayoutClock), or it is estimated
// as now plus the sink's output latency (Latency, as PortAudio reports
// it), or plus Options.Latency. The estimate jitters with the moment Run
// wakes (a millisecond, more on a loaded board), while the device plays
// its samples at a steady rate: it is followed by a device clock that
// advances by what is written and leans a sixty-fourth of the way to each
// estimate, and is set anew when the two part by more than 5 ms (the
// device ran dry, or the output restarted).
func (s *state) playoutTime() time.Time {
	p := s.p
	if pc, ok := p.opts.Sink.(audio.PlayoutClock); ok {
		return pc.NextPlayout()
	}
	d := p.opts.Latency
	if l, ok := p.opts.Sink.(interface{ Latency() time.Duration }); ok && d == 0 {
		d = l.Latency()
	}
	est := p.opts.Clock.Now().Add(d)
	if s.devClock.IsZero() || (est.Sub(s.devClock)).Abs() > 5*time.Millisecond {
		s.devClock = est
	} else {
		s.devClock = s.devClock.Add(est.Sub(s.devClock) / 64)
	}
	at := s.devClock
	s.devClock = s.devClock.Add(time.Duration(p.block/p.format.Channels) * time.Second / time.Duration(p.format.Rate))
	return at
}
