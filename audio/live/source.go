package live

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/loaxa/loaxa/audio"
)

// ErrClosed is returned by Read after Close.
var ErrClosed = errors.New("live: source closed")

// Stats are a Source's counters since Open.
type Stats struct {
	Received   uint64 // frames taken into the buffer
	Lost       uint64 // frames whose turn to play came and went without them
	Late       uint64 // frames that arrived after their turn, dropped
	Duplicates uint64 // frames that arrived twice, dropped
	Dropped    uint64 // frames dropped to keep latency under MaxLatency
	Concealed  uint64 // frame-lengths of audio made up by concealment
	Underruns  uint64 // times play-out found the buffer empty
	Restarts   uint64 // talks restarted by a seq jump or a format change
	// Depth is the audio buffered and not yet played.
	Depth time.Duration
	// Latency is, for the most recent frame played, the time from its
	// capture timestamp to the Read that returned its first sample.
	Latency time.Duration
	// Playing is false while the buffer fills to the target.
	Playing bool
	// Trimmed counts quiet frames left out to catch up: audio that
	// arrived while the pole's output was getting ready (ReadTimed).
	Trimmed uint64
	// Sync is true while a synchronised Source plays on schedule (see
	// OpenOptions.Delay); SyncOffset is how far its last sample played was
	// from its schedule (positive: late), as last measured.
	Sync       bool
	SyncOffset time.Duration
}

// streamParams are what a talk keeps constant.
type streamParams struct {
	codec          Codec
	rate, channels int
}

func (p streamParams) String() string {
	return fmt.Sprintf("%v %d Hz × %d ch", p.codec, p.rate, p.channels)
}

type entry struct {
	f    Frame
	recv time.Time
}

// recentWindow is how many played seqs a Source remembers, to tell a
// duplicate of a played frame from a late one.
const recentWindow = 256

type recentSeq struct {
	seq    uint32
	played bool // false: its turn passed without it
}

// seqDiff is a−b in serial-number arithmetic: positive when a is after b,
// correct across the 2^32 wrap for distances under 2^31.
func seqDiff(a, b uint32) int64 { return int64(int32(a - b)) }

// Source is one channel's audio, at the format given to Hub.Open. Read
// never blocks: missing audio is concealed or silent (see the package
// comment). It implements audio.Source; Stats may be called from any
// goroutine, Read and Close from the one that plays it.
type Source struct {
	hub     *Hub
	channel string
	out     audio.Format
	err     error // why Open refused; Read returns it

	ctx       context.Context
	cancel    context.CancelFunc
	done      chan struct{} // closed when watch returns
	closeOnce sync.Once

	mu sync.Mutex // guards the jitter-buffer state below: Deliver, Read and watch share it
	// frames holds the talk's frames from head on, by seq.
	frames      map[uint32]entry
	depth       time.Duration // sum of the durations in frames
	params      streamParams
	gen         uint64 // bumped when a talk (re)starts: Read rebuilds its decoder
	haveHead    bool   // a frame of this talk has arrived
	head        uint32 // seq of the next frame to play
	began       bool   // the talk's play-out passed a frame: head no longer moves back
	playing     bool   // false while filling to the target
	ended       bool   // the talk's last frame arrived
	endSeq      uint32
	eof         bool
	closed      bool
	lastSamples int // per channel at params.rate: the length of a concealed frame
	lastRecv    time.Time
	silent      bool
	recent      [recentWindow]recentSeq
	stats       Stats

	// opts are the Source's own options (OpenWith).
	opts OpenOptions
	// limit bounds depth once play-out began: MaxLatency, or more while
	// a backlog taken before play-out is being caught up (ReadTimed).
	limit time.Duration
	// The sender's timeline of the talk (synchronised play-out): frame
	// seq0 + k was captured at base + k frame durations. base is the
	// lower envelope of what the frames say, since a sender stamps a frame
	// when its timer wakes, never before.
	seq0    uint32
	base    time.Time
	fsamp   int // samples per channel per frame, at params.rate
	hasBase bool

	rd reader // touched only by Read
}

func newSource(h *Hub, channel string, out audio.Format) *Source {
	s := &Source{hub: h, channel: channel, out: out, frames: map[uint32]entry{}, done: make(chan struct{})}
	if !out.Valid() {
		s.err = fmt.Errorf("live: channel %s: cannot play to %v: rate must be 8000–192000 Hz and channels 1 or 2", channel, out)
		close(s.done)
	}
	return s
}

// start begins watching for silence; the watcher stops with ctx or Close.
func (s *Source) start(ctx context.Context) {
	s.ctx, s.cancel = context.WithCancel(ctx)
	s.lastRecv = s.hub.clk.Now()
	go s.watch()
}

// Format is the format given to Open.
func (s *Source) Format() audio.Format { return s.out }

// Close stops receiving. It is safe to call more than once.
func (s *Source) Close() error {
	s.closeOnce.Do(func() {
		if s.cancel != nil {
			s.cancel()
		}
		<-s.done
		s.hub.remove(s)
		s.mu.Lock()
		s.closed = true
		clear(s.frames)
		s.depth = 0
		s.mu.Unlock()
	})
	return nil
}

// Stats returns the Source's counters.
func (s *Source) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Depth = s.depth
	st.Playing = s.playing
	return st
}

// watch raises EventSilent when nothing arrives for SilenceAfter. It is the
// Source's one goroutine, owned by it, and ends with its context.
func (s *Source) watch() {
	defer close(s.done)
	defer s.hub.remove(s) // a Source whose context ended takes no more frames
	after := s.hub.opts.SilenceAfter
	t := s.hub.clk.NewTimer(after)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C():
		}
		now := s.hub.clk.Now()
		s.mu.Lock()
		wait := after - now.Sub(s.lastRecv)
		raise := wait <= 0 && !s.silent && !s.ended
		if wait <= 0 {
			s.silent = s.silent || !s.ended
			wait = after
		}
		s.mu.Unlock()
		if raise {
			s.hub.emit(Event{Kind: EventSilent, Channel: s.channel, Time: now})
		}
		t.Reset(wait)
	}
}

// deliver takes a parsed frame (its Payload is not modified afterwards).
func (s *Source) deliver(f Frame, recv time.Time) {
	var events []Event
	s.mu.Lock()
	events = s.insert(f, recv, events)
	s.mu.Unlock()
	for _, e := range events {
		s.hub.emit(e)
	}
}

// insert is deliver with s.mu held; it returns events to emit after
// unlocking.
func (s *Source) insert(f Frame, recv time.Time, events []Event) []Event {
	if s.closed || s.eof {
		return events
	}
	s.lastRecv = recv
	if s.silent {
		s.silent = false
		events = append(events, Event{Kind: EventResumed, Channel: s.channel, Time: recv})
	}
	p := streamParams{f.Codec, f.Rate, f.Channels}
	if s.ended {
		// The talk is over: only its own stragglers still count.
		if p != s.params || seqDiff(f.Seq, s.endSeq) > 0 || abs(seqDiff(f.Seq, s.head)) > MaxSeqJump {
			return events
		}
	}
	switch {
	case !s.haveHead:
		s.restart(p, f.Seq)
	case p != s.params:
		err := fmt.Errorf("the stream changed from %v to %v", s.params, p)
		s.restart(p, f.Seq)
		s.stats.Restarts++
		events = append(events, Event{Kind: EventRestart, Channel: s.channel, Time: recv, Err: err})
	case abs(seqDiff(f.Seq, s.head)) > MaxSeqJump:
		err := fmt.Errorf("seq jumped from %d to %d", s.head, f.Seq)
		s.restart(p, f.Seq)
		s.stats.Restarts++
		events = append(events, Event{Kind: EventRestart, Channel: s.channel, Time: recv, Err: err})
	}
	if seqDiff(f.Seq, s.head) < 0 {
		if s.began {
			if r := s.recent[f.Seq%recentWindow]; r.seq == f.Seq && r.played {
				s.stats.Duplicates++
			} else {
				s.stats.Late++
			}
			return events
		}
		s.head = f.Seq // reordered before play-out began: the talk starts earlier
	}
	if _, dup := s.frames[f.Seq]; dup {
		s.stats.Duplicates++
		return events
	}
	s.frames[f.Seq] = entry{f, recv}
	s.timeline(f)
	s.depth += f.Duration()
	s.stats.Received++
	if s.lastSamples == 0 {
		s.lastSamples = f.Samples
	}
	if f.Last {
		s.ended, s.endSeq = true, f.Seq
	}
	s.trim()
	return events
}

// restart empties the buffer for a new talk starting at seq.
func (s *Source) restart(p streamParams, seq uint32) {
	clear(s.frames)
	s.depth = 0
	s.params = p
	s.gen++
	s.haveHead, s.head, s.began, s.playing = true, seq, false, false
	s.ended, s.endSeq = false, 0
	s.lastSamples = 0
	s.recent = [recentWindow]recentSeq{}
	s.hasBase = false
	s.limit = 0
}

// trim drops the oldest frames while the buffer holds more than its
// bound, down to the target. The bound is MaxLatency; before play-out
// began it is the Source's backlog (OpenOptions.Backlog), and while a
// timed reader catches that backlog up, what is left of it.
func (s *Source) trim() {
	limit := s.hub.opts.MaxLatency
	if !s.began {
		limit = max(limit, s.opts.Backlog)
	} else {
		limit = max(limit, s.limit)
	}
	if s.depth <= limit {
		return
	}
	floor := max(s.hub.opts.Target, limit-(s.hub.opts.MaxLatency-s.hub.opts.Target))
	for s.depth > floor {
		if e, ok := s.frames[s.head]; ok {
			delete(s.frames, s.head)
			s.depth -= e.f.Duration()
			s.stats.Dropped++
		} else {
			s.stats.Lost++
		}
		s.recent[s.head%recentWindow] = recentSeq{seq: s.head}
		s.head++
		s.began = true
	}
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// actKind is what Read does next.
type actKind int

const (
	actSilence actKind = iota // play silence
	actFrame                  // decode and play a frame
	actConceal                // make up a lost frame
)

// action is one step of play-out, decided under s.mu and carried out by
// Read without the lock.
type action struct {
	kind    actKind
	f       Frame  // actFrame
	next    []byte // actConceal, Opus: the packet after the lost one, for FEC
	samples int    // actSilence, actConceal: per channel, at params.rate (out.Rate before any frame)
	params  streamParams
	gen     uint64
	idx     int64 // where the step starts on the talk's timeline (readSync)
}

// next decides the next step of play-out at time now; s.mu is held.
func (s *Source) next(now time.Time) (action, error) {
	switch {
	case s.eof:
		return action{}, io.EOF
	case s.closed:
		return action{}, ErrClosed
	case s.ctx.Err() != nil:
		return action{}, fmt.Errorf("live: channel %s: %w", s.channel, s.ctx.Err())
	}
	if !s.haveHead {
		return action{kind: actSilence, samples: s.out.Rate / 100}, nil
	}
	a := action{params: s.params, gen: s.gen}
	if !s.playing {
		if s.depth >= s.hub.opts.Target || s.ended || s.depth > 0 && now.Sub(s.oldestRecv()) >= s.hub.opts.Target {
			s.playing = true
		} else {
			a.kind, a.samples = actSilence, s.params.rate/100
			return a, nil
		}
	}
	if s.ended && seqDiff(s.head, s.endSeq) > 0 {
		s.eof = true
		return action{}, io.EOF
	}
	if e, ok := s.frames[s.head]; ok {
		delete(s.frames, s.head)
		s.depth -= e.f.Duration()
		s.recent[s.head%recentWindow] = recentSeq{seq: s.head, played: true}
		s.head++
		s.began = true
		s.lastSamples = e.f.Samples
		s.stats.Latency = now.Sub(e.f.Capture)
		a.kind, a.f = actFrame, e.f
		return a, nil
	}
	a.kind, a.samples = actConceal, s.lastSamples
	s.stats.Concealed++
	if s.depth > 0 || s.ended {
		// Later frames are here, so this one is lost, not slow.
		s.stats.Lost++
		s.recent[s.head%recentWindow] = recentSeq{seq: s.head}
		s.head++
		s.began = true
		if e, ok := s.frames[s.head]; ok && s.params.codec == CodecOpus {
			a.next = e.f.Payload
		}
		return a, nil
	}
	// Nothing at all: conceal one frame, then refill to the target.
	s.stats.Underruns++
	s.playing = false
	return a, nil
}

// oldestRecv is when the earliest buffered frame arrived; s.mu is held.
func (s *Source) oldestRecv() time.Time {
	var t time.Time
	for _, e := range s.frames {
		if t.IsZero() || e.recv.Before(t) {
			t = e.recv
		}
	}
	return t
}

// readable is why the source cannot be read any more (its open error,
// Close, or the end of Open's context before the talk ended), or nil.
func (s *Source) readable() error {
	if s.err != nil {
		return s.err
	}
	s.mu.Lock()
	closed, eof := s.closed, s.eof
	s.mu.Unlock()
	switch {
	case closed:
		return ErrClosed
	case s.ctx.Err() != nil && !eof:
		return fmt.Errorf("live: channel %s: %w", s.channel, s.ctx.Err())
	}
	return nil
}

// Read fills p with the channel's audio: whole frames of the output
// format, len(p) rounded down to a multiple of its channel count. It
// returns io.EOF after the talk's last frame, ErrClosed after Close, and
// an error once the context given to Open has ended.
func (s *Source) Read(p []int16) (int, error) {
	if err := s.readable(); err != nil {
		return 0, err
	}
	want := len(p) - len(p)%s.out.Channels
	now := s.hub.clk.Now()
	n := 0
	for n < want {
		if s.rd.off < len(s.rd.pending) {
			c := copy(p[n:want], s.rd.pending[s.rd.off:])
			s.rd.off += c
			n += c
			continue
		}
		s.mu.Lock()
		a, err := s.next(now)
		s.mu.Unlock()
		if err != nil {
			if n > 0 {
				return n, nil // the error comes again on the next Read
			}
			return 0, err
		}
		if err := s.produce(a); err != nil {
			return n, err
		}
	}
	return n, nil
}
