package live

import (
	"fmt"
	"io"
	"math"
	"time"

	"github.com/loaxa/loaxa/audio/dsp"
)

// This file is the Source's timed read (audio.TimedSource), which a player
// calls at the moment it writes to its sink: the plain jitter buffer with
// a backlog caught up by leaving out quiet frames, and synchronised
// play-out (OpenOptions.Delay).

// quietDBFS is the RMS level under which a frame counts as a pause in
// speech, which a Source that is behind may leave out to catch up. A
// microphone's noise floor sits well below it; a word's quiet tail rarely.
const quietDBFS = -45

// baseLeak is how fast the sender's estimated timeline may move later
// (see Source.timeline): 100 µs per second of talk, ten times the worst
// drift of a sound card's crystal, so a sender whose sample clock runs slow
// is followed while its timer's late wake-ups are ignored.
const baseLeak = 1e-4

// lockWindow is how far (in time) a synchronised Source may be off its
// schedule and still correct by spread-out sample edits; further off, it
// waits in silence (early) or skips (late, the output having stalled).
const lockWindow = 5 * time.Millisecond

// maxEdits bounds the samples inserted or dropped per read of a
// synchronised Source: 4 per 10 ms block is a 0.8 % speed change at most,
// below what a listener notices in speech, and 1 ms of correction per
// 125 ms of play.
const maxEdits = 4

// timeline folds frame f into the sender's timeline; s.mu is held.
func (s *Source) timeline(f Frame) {
	if !s.hasBase {
		s.seq0, s.fsamp, s.base, s.hasBase = f.Seq, f.Samples, f.Capture, true
		return
	}
	x := f.Capture.Add(-s.talkDur(seqDiff(f.Seq, s.seq0) * int64(s.fsamp)))
	leaked := s.base.Add(time.Duration(baseLeak * float64(f.Duration())))
	if x.Before(leaked) {
		s.base = x
	} else {
		s.base = leaked
	}
}

// talkDur is the duration of n samples at the talk's rate.
func (s *Source) talkDur(n int64) time.Duration {
	return time.Duration(n) * time.Second / time.Duration(s.params.rate)
}

// idxOf is where frame seq starts on the talk's timeline, in samples per
// channel at the output rate; s.mu is held.
func (s *Source) idxOf(seq uint32) int64 {
	return seqDiff(seq, s.seq0) * int64(s.fsamp) * int64(s.out.Rate) / int64(s.params.rate)
}

// ReadTimed fills p with the channel's audio, whose first sample will be
// heard at the time given: see audio.TimedSource. Before the talk's first
// frame plays it returns 0 (not part of the item). A plain Source plays
// what arrived since it was opened (its backlog) late, then catches up by
// leaving out quiet frames while it holds more than the target. A
// synchronised Source (OpenOptions.Delay) plays the sample captured at T
// at T + Delay: it waits in silence when early, leaves out quiet frames
// while catching up a backlog, then keeps to the schedule within a sample
// by inserting or dropping single samples spread out, and conceals frames
// that were not there in time, like lost ones.
func (s *Source) ReadTimed(p []int16, at time.Time) (int, error) {
	if err := s.readable(); err != nil {
		return 0, err
	}
	p = p[:len(p)-len(p)%s.out.Channels]
	if s.opts.Delay > 0 {
		return s.readSync(p, at)
	}
	return s.readPlain(p, at)
}

// frames converts output samples (all channels) to a duration.
func (s *Source) outDur(samples int) time.Duration {
	return time.Duration(samples/s.out.Channels) * time.Second / time.Duration(s.out.Rate)
}

// took updates the catch-up bound after play-out took a frame; s.mu is
// held, and wasBegan is s.began before.
func (s *Source) took(wasBegan bool) {
	// The same headroom over what is buffered as in steady state over
	// the target, so arrivals' jitter does not count as a burst.
	room := s.hub.opts.MaxLatency - s.hub.opts.Target
	if !wasBegan {
		s.limit = s.depth + room
	} else {
		s.limit = min(s.limit, s.depth+room)
	}
}

func (s *Source) readPlain(p []int16, at time.Time) (int, error) {
	r := &s.rd
	now := s.hub.clk.Now()
	n := 0
	for n < len(p) {
		if r.off < len(r.pending) {
			c := copy(p[n:], r.pending[r.off:])
			r.off += c
			n += c
			continue
		}
		s.mu.Lock()
		wasBegan := s.began
		a, err := s.next(now)
		if err == nil && a.kind == actSilence && !r.heard {
			s.mu.Unlock()
			return n, nil // filling before the talk: not part of the item
		}
		behind := false
		if err == nil && a.kind != actSilence {
			s.took(wasBegan)
			// Heard about 50 ms after it leaves the buffer (device queue, block,
			// codec): keep what is buffered behind it under the target.
			behind = s.depth >= s.hub.opts.Target
		}
		if a.kind == actFrame {
			s.stats.Latency = at.Add(s.outDur(n)).Sub(a.f.Capture)
		}
		s.mu.Unlock()
		if err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		if err := s.produce(a); err != nil {
			return n, err
		}
		if a.kind != actSilence {
			r.heard = true
		}
		if behind && a.kind == actFrame && dsp.Level(r.pending) < quietDBFS {
			r.pending = r.pending[:0]
			s.mu.Lock()
			s.stats.Trimmed++
			s.mu.Unlock()
		}
	}
	return n, nil
}

// syncView is what a synchronised read needs of the shared state.
type syncView struct {
	hasBase bool
	base    time.Time
	headIdx int64
	gen     uint64
}

func (s *Source) readSync(p []int16, at time.Time) (int, error) {
	r := &s.rd
	ch := s.out.Channels
	rate := float64(s.out.Rate)
	n, edits, since := 0, 0, 0
	var offset time.Duration
	measured := false
	defer func() {
		if measured {
			s.mu.Lock()
			s.stats.SyncOffset = offset
			s.stats.Sync = r.locked
			s.mu.Unlock()
		}
	}()
	for n < len(p) {
		s.mu.Lock()
		v := syncView{hasBase: s.hasBase, base: s.base, gen: s.gen}
		if s.hasBase {
			v.headIdx = s.idxOf(s.head)
		}
		s.mu.Unlock()
		if !v.hasBase {
			if !r.heard {
				return n, nil // nothing of the talk yet
			}
			clear(p[n:])
			return len(p), nil
		}
		if v.gen != r.syncGen {
			r.syncGen, r.locked = v.gen, false
			if r.gen != v.gen {
				r.pending, r.off = r.pending[:0], 0
			}
		}
		left := (len(r.pending) - r.off) / ch
		cur := v.headIdx
		if left > 0 {
			cur = r.idx + int64(r.off/ch)
		}
		due := at.Add(s.outDur(n)).Add(-s.opts.Delay)
		e := float64(cur) - float64(due.Sub(v.base))*rate/1e9 // samples: > 0 early
		offset, measured = -time.Duration(e/rate*1e9), true
		win := lockWindow.Seconds() * rate
		switch {
		case e >= win || !r.locked && e >= 1:
			// Early: silence until the sample's time.
			k := min(len(p)-n, int(e)*ch)
			if !r.heard && n == 0 && k == len(p) {
				return 0, nil
			}
			clear(p[n : n+k])
			n += k
			continue
		case e <= -win && left > 0:
			// Late: the output stalled (skip to the schedule), or a backlog
			// is being caught up (skip within a pause, else play on).
			skip := min(int(-e), left)
			if r.locked || dsp.Level(r.pending[r.off:r.off+skip*ch]) < quietDBFS {
				r.off += skip * ch
				continue
			}
		}
		if left == 0 {
			s.mu.Lock()
			wasBegan := s.began
			a, err := s.nextSync()
			if err == nil {
				s.took(wasBegan)
			}
			s.mu.Unlock()
			if err != nil {
				if n > 0 {
					return n, nil
				}
				return 0, err
			}
			if err := s.produce(a); err != nil {
				return n, err
			}
			r.idx = a.idx
			frame := len(r.pending) / ch
			if !r.locked && a.kind == actFrame && float64(frame) <= -e && dsp.Level(r.pending) < quietDBFS {
				r.pending = r.pending[:0] // catching up a backlog: leave a pause out
				s.mu.Lock()
				s.stats.Trimmed++
				s.mu.Unlock()
			}
			continue
		}
		if math.Abs(e) < win {
			r.locked = true
		}
		// One sample edit at a time, spread over the block.
		spacing := max(1, (len(p)/ch)/(maxEdits+1))
		if edits < maxEdits && since >= spacing || edits == 0 {
			switch {
			case e >= 1:
				// Early by a sample or more: play this one twice, softly
				// joined (the mean of it and the one before).
				for c := range ch {
					prev := int32(r.pending[r.off+c])
					if n > 0 {
						prev = int32(p[n-ch+c])
					}
					p[n+c] = int16((prev + int32(r.pending[r.off+c])) / 2)
				}
				n += ch
				edits++
				since = 0
				continue
			case e <= -1:
				r.off += ch // late by a sample or more: leave one out
				edits++
				since = 0
				continue
			}
		}
		c := min(len(p)-n, left*ch, spacing*ch)
		copy(p[n:n+c], r.pending[r.off:r.off+c])
		r.off += c
		n += c
		since += c / ch
		r.heard = true
	}
	return n, nil
}

// nextSync decides the next step of synchronised play-out: the head frame,
// or its concealment when it is not there at its time; s.mu is held and
// the talk has a timeline.
func (s *Source) nextSync() (action, error) {
	switch {
	case s.eof:
		return action{}, io.EOF
	case s.closed:
		return action{}, ErrClosed
	case s.ctx.Err() != nil:
		return action{}, fmt.Errorf("live: channel %s: %w", s.channel, s.ctx.Err())
	}
	a := action{params: s.params, gen: s.gen, idx: s.idxOf(s.head)}
	if s.ended && seqDiff(s.head, s.endSeq) > 0 {
		s.eof = true
		return action{}, io.EOF
	}
	s.playing = true
	if e, ok := s.frames[s.head]; ok {
		delete(s.frames, s.head)
		s.depth -= e.f.Duration()
		s.recent[s.head%recentWindow] = recentSeq{seq: s.head, played: true}
		s.head++
		s.began = true
		s.lastSamples = e.f.Samples
		a.kind, a.f = actFrame, e.f
		return a, nil
	}
	// Its time has come without it: lost, whether it is on its way or not
	// (if it comes now it is late, and dropped).
	a.kind, a.samples = actConceal, s.lastSamples
	s.stats.Concealed++
	s.stats.Lost++
	if s.depth == 0 && !s.ended {
		s.stats.Underruns++
	}
	s.recent[s.head%recentWindow] = recentSeq{seq: s.head}
	s.head++
	s.began = true
	if e, ok := s.frames[s.head]; ok && s.params.codec == CodecOpus {
		a.next = e.f.Payload
	}
	return a, nil
}
