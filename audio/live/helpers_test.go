package live

import (
	"context"
	"sort"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/internal/clock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2025, 11, 25, 10, 0, 0, 0, time.UTC)

const frameDur = 20 * time.Millisecond

var mono48 = audio.Format{Rate: 48000, Channels: 1}

// rig is a Hub on a fake clock whose events are collected.
type rig struct {
	t      *testing.T
	clk    *clock.Fake
	hub    *Hub
	events chan Event
}

func newRig(t *testing.T, opts Options) *rig {
	t.Helper()
	r := &rig{t: t, clk: clock.NewFake(t0), events: make(chan Event, 1024)}
	opts.Clock = r.clk
	opts.OnEvent = func(e Event) {
		select {
		case r.events <- e:
		default:
			t.Errorf("event dropped: %v", e)
		}
	}
	r.hub = NewHub(opts)
	return r
}

func (r *rig) open(channel string, out audio.Format) *Source {
	r.t.Helper()
	s := r.hub.Open(context.Background(), channel, out)
	r.t.Cleanup(func() { s.Close() })
	return s
}

// deliver marshals f and hands it to the hub at the fake now.
func (r *rig) deliver(channel string, f Frame) {
	r.t.Helper()
	b, err := f.Marshal()
	if err != nil {
		r.t.Fatalf("marshal frame %d: %v", f.Seq, err)
	}
	r.hub.Deliver(channel, b, r.clk.Now())
}

// nextEvent returns the next event, failing if none is pending. Events are
// emitted synchronously except EventSilent, which the caller waits for
// with waitEvent.
func (r *rig) nextEvent() Event {
	r.t.Helper()
	select {
	case e := <-r.events:
		return e
	default:
		r.t.Fatal("no event")
		return Event{}
	}
}

func (r *rig) noEvent() {
	r.t.Helper()
	select {
	case e := <-r.events:
		r.t.Fatalf("unexpected event %v", e)
	default:
	}
}

// arrival is a frame reaching the hub at a time.
type arrival struct {
	at time.Duration // since t0
	f  Frame
}

// play runs a talk in fake time: arrivals are delivered at their times and
// the source is read every frameDur, readSamples at a time, as a sink
// would, until it ends or until limit. It returns what each read produced
// and the Source's stats after it.
func (r *rig) play(s *Source, channel string, arrivals []arrival, readSamples int, limit time.Duration) (reads [][]int16, stats []Stats, err error) {
	r.t.Helper()
	sort.SliceStable(arrivals, func(i, j int) bool { return arrivals[i].at < arrivals[j].at })
	next := 0
	for tick := time.Duration(0); tick <= limit; tick += frameDur {
		for next < len(arrivals) && arrivals[next].at <= tick {
			r.advanceTo(arrivals[next].at)
			r.deliver(channel, arrivals[next].f)
			next++
		}
		r.advanceTo(tick)
		p := make([]int16, readSamples)
		n, err := s.Read(p)
		if err != nil {
			return reads, stats, err
		}
		reads = append(reads, p[:n])
		stats = append(stats, s.Stats())
	}
	return reads, stats, nil
}

func (r *rig) advanceTo(d time.Duration) {
	if now := r.clk.Now().Sub(t0); d > now {
		r.clk.Advance(d - now)
	}
}

// constFrames makes n PCM mono 48 kHz frames of 20 ms from seq first;
// frame k holds the value k+1 throughout, so order is visible.
func constFrames(first uint32, n int) []Frame {
	fs := make([]Frame, n)
	for k := range n {
		pcm := make([]int16, 960)
		for i := range pcm {
			pcm[i] = int16(k + 1)
		}
		f := pcmFrame(first+uint32(k), pcm, 1, 48000)
		f.Capture = t0.Add(time.Duration(k) * frameDur)
		f.Last = k == n-1
		fs[k] = f
	}
	return fs
}

// onTime schedules frames at capture + delay.
func onTime(fs []Frame, delay time.Duration) []arrival {
	as := make([]arrival, len(fs))
	for i, f := range fs {
		as[i] = arrival{at: f.Capture.Sub(t0) + delay, f: f}
	}
	return as
}

// values summarises reads of constFrames: one value per read, or -1 for a
// read that is not one frame's constant (silence gives 0).
func values(reads [][]int16) []int {
	out := make([]int, len(reads))
	for i, p := range reads {
		out[i] = int(p[0])
		for _, v := range p {
			if v != p[0] {
				out[i] = -1
				break
			}
		}
	}
	return out
}

// played drops the leading silence.
func played(vals []int) []int {
	for i, v := range vals {
		if v != 0 {
			return vals[i:]
		}
	}
	return nil
}

func seqOf(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	return out
}
