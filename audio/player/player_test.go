package player

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/audio/dsp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var format = audio.Format{Rate: 48000, Channels: 2}

// memSink records what is written, without pacing.
type memSink struct {
	mu      sync.Mutex
	samples []int16
}

func (m *memSink) String() string       { return "mem" }
func (m *memSink) Format() audio.Format { return format }
func (m *memSink) Close() error         { return nil }
func (m *memSink) Write(p []int16) error {
	m.mu.Lock()
	m.samples = append(m.samples, p...)
	m.mu.Unlock()
	return nil
}
func (m *memSink) get() []int16 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]int16(nil), m.samples...)
}

// sine is a test source: a sine of hz at amplitude amp, n samples long
// (interleaved), continuous phase.
type sine struct {
	hz, amp float64
	pos, n  int
}

func (s *sine) Format() audio.Format { return format }
func (s *sine) Close() error         { return nil }
func (s *sine) Read(p []int16) (int, error) {
	k := 0
	for ; k+1 < len(p) && s.pos < s.n; k += 2 {
		v := int16(s.amp * 32767 * math.Sin(2*math.Pi*s.hz*float64(s.pos/2)/float64(format.Rate)))
		p[k], p[k+1] = v, v
		s.pos += 2
	}
	if s.pos >= s.n {
		return k, io.EOF
	}
	return k, nil
}

func start(t *testing.T) (*Player, *memSink) {
	t.Helper()
	sink := &memSink{}
	p, err := New(Options{Sink: sink, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return p, sink
}

// audible drops the blocks of silence the player wrote while a source was
// late (the test sink does not pace, so a fast player outruns the reader);
// every write is exactly one block, so the blocks are aligned.
func audible(p *Player, out []int16) []int16 {
	var kept []int16
	for i := 0; i+p.block <= len(out); i += p.block {
		b := out[i : i+p.block]
		for _, v := range b {
			if v != 0 {
				kept = append(kept, b...)
				break
			}
		}
	}
	return kept
}

func waitLen(t *testing.T, sink *memSink, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(sink.get()) < n {
		if time.Now().After(deadline) {
			t.Fatal("the player stopped writing")
		}
		time.Sleep(time.Millisecond)
	}
}

func next(t *testing.T, p *Player) Event {
	t.Helper()
	select {
	case ev := <-p.Events():
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no player event")
		return Event{}
	}
}

func tone(n int) func(context.Context) (audio.Source, error) {
	return func(context.Context) (audio.Source, error) { return &sine{hz: 1000, amp: 0.5, n: n}, nil }
}

func TestPlayToEnd(t *testing.T) {
	p, sink := start(t)
	n := 48000 * 2 // one second
	p.Play(Item{ID: "a", Open: tone(n), Gain: 1, FadeIn: 20 * time.Millisecond})
	if ev := next(t, p); ev.Kind != Started || ev.ID != "a" {
		t.Fatalf("first event %+v", ev)
	}
	ev := next(t, p)
	if ev.Kind != Ended || ev.Err != nil || ev.Played != int64(n) {
		t.Fatalf("end event %+v", ev)
	}
	out := audible(p, sink.get())
	if len(out) < n-p.block || len(out) > n {
		t.Fatalf("sink got %d audible samples, want %d", len(out), n)
	}
	if a := dsp.Goertzel(out[48000:n], format, 1000); math.Abs(a-0.5) > 0.02 {
		t.Errorf("1 kHz amplitude %.3f, want 0.5", a)
	}
	// A sine of amplitude A at f steps at most 2πf/rate·A per sample;
	// the fade-in must not add a click.
	bound := int(math.Ceil(2*math.Pi*1000/48000*0.5*32767)) + 2
	if s := dsp.MaxStep(out, 2); s > bound {
		t.Errorf("max sample step %d > %d: a click", s, bound)
	}
	if math.Abs(float64(out[2])) > 100 {
		t.Errorf("fade-in does not start from silence: %d", out[2])
	}
}

func TestStopFadesOut(t *testing.T) {
	p, sink := start(t)
	p.Play(Item{ID: "long", Open: tone(48000 * 2 * 60), Gain: 1})
	next(t, p)
	p.Stop("long", 30*time.Millisecond)
	ev := next(t, p)
	if ev.Kind != Stopped || ev.ID != "long" || ev.Played <= 0 {
		t.Fatalf("stop event %+v", ev)
	}
	out := sink.get()
	bound := int(math.Ceil(2*math.Pi*1000/48000*0.5*32767)) + 2
	if s := dsp.MaxStep(out, 2); s > bound {
		t.Errorf("stop clicked: max step %d > %d", s, bound)
	}
	tail := out[len(out)-96:]
	if dsp.Peak(tail) > -60 {
		t.Errorf("output not at silence after the fade: %.1f dBFS", dsp.Peak(tail))
	}
}

func TestOpenFailureEndsWithError(t *testing.T) {
	p, _ := start(t)
	boom := errors.New("404 Not Found")
	p.Play(Item{ID: "bad", Open: func(context.Context) (audio.Source, error) { return nil, boom }, Gain: 1})
	ev := next(t, p)
	if ev.Kind != Ended || !errors.Is(ev.Err, boom) {
		t.Fatalf("%+v", ev)
	}
}

func TestMuteReachesSilenceAndUnmuteReturns(t *testing.T) {
	p, sink := start(t)
	p.Play(Item{ID: "m", Open: tone(48000 * 2 * 60), Gain: 1})
	next(t, p)
	p.Mute(20 * time.Millisecond)
	if ev := next(t, p); ev.Kind != Silent {
		t.Fatalf("%+v", ev)
	}
	at := len(sink.get())
	waitLen(t, sink, at+4*p.block)
	p.Unmute(20 * time.Millisecond)
	deadline := time.Now().Add(10 * time.Second)
	for len(audible(p, sink.get()[at:])) < 4*9600 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	out := sink.get()
	if dsp.Peak(out[at:at+4*p.block]) > dsp.Floor {
		t.Errorf("not silent after Silent: %.1f dBFS", dsp.Peak(out[at:at+4*p.block]))
	}
	heard := audible(p, out[at:])
	if a := dsp.Goertzel(heard[len(heard)-9600:], format, 1000); a < 0.4 {
		t.Errorf("tone did not come back after Unmute: %.2f", a)
	}
	p.Stop("", 0)
	next(t, p)
}

// A second Mute while already silent must still be answered for the item,
// or the arbiter waiting for it would never switch its relays.
func TestMuteWhenAlreadySilentAnswersForTheItem(t *testing.T) {
	p, _ := start(t)
	p.Play(Item{ID: "m", Open: tone(48000 * 2 * 60), Gain: 1})
	next(t, p)
	p.Mute(10 * time.Millisecond)
	if ev := next(t, p); ev.Kind != Silent || ev.ID != "m" {
		t.Fatalf("first mute: %+v", ev)
	}
	p.Mute(10 * time.Millisecond)
	if ev := next(t, p); ev.Kind != Silent || ev.ID != "m" {
		t.Fatalf("second mute: %+v, want Silent for m", ev)
	}
	p.Stop("", 0)
	next(t, p)
}
