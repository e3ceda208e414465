package modem

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/loaxa/loaxa/hal"
	"github.com/loaxa/loaxa/internal/clock"
)

// fakeModem is a hal.Modem whose answers the test sets.
type fakeModem struct {
	mu    sync.Mutex
	calls []string
	err   error         // Read's error
	rsrp  float64       // Read's RSRP
	block chan struct{} // when set, Read waits for it or ctx
}

func (f *fakeModem) String() string { return "fake modem" }

func (f *fakeModem) Read(ctx context.Context) (hal.ModemReading, error) {
	f.mu.Lock()
	f.calls = append(f.calls, "read")
	block, err, rsrp := f.block, f.err, f.rsrp
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return hal.ModemReading{}, ctx.Err()
		}
	}
	return hal.ModemReading{RSRPdBm: &rsrp}, err
}

func (f *fakeModem) op(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, name)
	return nil
}

func (f *fakeModem) RadioOff(context.Context) error { return f.op("off") }
func (f *fakeModem) RadioOn(context.Context) error  { return f.op("on") }
func (f *fakeModem) Reset(context.Context) error    { return f.op("reset") }
func (f *fakeModem) Halt() error                    { return nil }

func (f *fakeModem) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeModem) set(fn func(*fakeModem)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("nothing received")
	}
	panic("unreachable")
}

func TestPollerReadsOnItsInterval(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	fm := &fakeModem{rsrp: -95}
	p := StartPoller(context.Background(), fm, PollerOptions{Interval: 30 * time.Second, Clock: clk})
	defer p.Close()

	s := recv(t, p.Readings()) // the first reading is taken at once
	if s.Err != nil || *s.Reading.RSRPdBm != -95 {
		t.Fatalf("first sample %+v", s)
	}
	fm.set(func(f *fakeModem) { f.rsrp = -101 })
	waitArmed(t, clk, 1)
	clk.Advance(29 * time.Second)
	select {
	case s := <-p.Readings():
		t.Fatalf("read before the interval: %+v", s)
	default:
	}
	clk.Advance(time.Second)
	if s := recv(t, p.Readings()); *s.Reading.RSRPdBm != -101 || !s.Time.Equal(clk.Now()) {
		t.Errorf("second sample %+v at %v", s, s.Time)
	}
	if l, ok := p.Latest(); !ok || *l.Reading.RSRPdBm != -101 {
		t.Errorf("Latest = %+v, %v", l, ok)
	}
}

// Nobody reading the samples costs nothing: only the newest waits.
func TestPollerKeepsOnlyTheLatest(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	fm := &fakeModem{rsrp: -90}
	p := StartPoller(context.Background(), fm, PollerOptions{Interval: 10 * time.Second, Clock: clk})
	defer p.Close()
	for i := range 5 {
		// Reading i+1 was published (its own bound timer is stopped by
		// then) and the poll timer armed after it.
		want := float64(-90 - i)
		waitFor(t, func() bool {
			l, ok := p.Latest()
			return ok && *l.Reading.RSRPdBm == want && len(fm.Calls()) == i+1 && clk.Waiters() == 1
		})
		fm.set(func(f *fakeModem) { f.rsrp = want - 1 })
		clk.Advance(10 * time.Second)
	}
	waitFor(t, func() bool { l, _ := p.Latest(); return *l.Reading.RSRPdBm == -95 })
	if s := recv(t, p.Readings()); *s.Reading.RSRPdBm != -95 {
		t.Errorf("waiting sample has RSRP %v, want the newest (-95)", *s.Reading.RSRPdBm)
	}
	select {
	case s := <-p.Readings():
		t.Errorf("a second sample waited: %+v", s)
	default:
	}
}

func TestPollerRetriesSoonerAfterAFailure(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	fm := &fakeModem{err: fmt.Errorf("modem: %w", ErrTimeout)}
	// Full jitter drawn at its ceiling: the delays are the ceilings.
	p := StartPoller(context.Background(), fm, PollerOptions{Interval: 80 * time.Second, RetryMin: 10 * time.Second, Clock: clk, Rand: func(n int64) int64 { return n - 1 }})
	defer p.Close()
	for _, wait := range []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 80 * time.Second} {
		s := recv(t, p.Readings())
		if !errors.Is(s.Err, ErrTimeout) {
			t.Fatalf("sample error %v", s.Err)
		}
		waitArmed(t, clk, 1)
		clk.Advance(wait - time.Nanosecond)
		select {
		case <-p.Readings():
			t.Fatalf("retried before %v", wait)
		default:
		}
		clk.Advance(time.Nanosecond)
	}
}

// A reading that does not end is cut at ReadTimeout of the poller's clock.
func TestPollerBoundsAReading(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	fm := &fakeModem{block: make(chan struct{})}
	p := StartPoller(context.Background(), fm, PollerOptions{ReadTimeout: 45 * time.Second, Clock: clk})
	defer p.Close()
	waitArmed(t, clk, 1) // the reading's bound (the first reading comes before any poll timer)
	clk.Advance(45 * time.Second)
	if s := recv(t, p.Readings()); !errors.Is(s.Err, ErrTimeout) {
		t.Errorf("sample error %v, want ErrTimeout", s.Err)
	}
}

func TestPollerActions(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	fm := &fakeModem{}
	p := StartPoller(context.Background(), fm, PollerOptions{Interval: time.Hour, RadioOffFor: 5 * time.Second, Clock: clk})
	defer p.Close()
	recv(t, p.Readings())
	if !p.Do(ActionRadioCycle) {
		t.Fatal("Do refused")
	}
	waitFor(t, func() bool { return slices.Contains(fm.Calls(), "off") })
	waitArmed(t, clk, 3) // poll timer, action bound, radio-off wait
	if slices.Contains(fm.Calls(), "on") {
		t.Fatal("radio back on before RadioOffFor")
	}
	clk.Advance(5 * time.Second)
	if r := recv(t, p.Results()); r.Action != ActionRadioCycle || r.Err != nil {
		t.Errorf("result %+v", r)
	}
	recv(t, p.Readings()) // a reading follows every action
	p.Do(ActionReset)
	if r := recv(t, p.Results()); r.Action != ActionReset || r.Err != nil {
		t.Errorf("result %+v", r)
	}
	recv(t, p.Readings())
	p.Do(ActionReadNow)
	recv(t, p.Readings())
	want := []string{"read", "off", "on", "read", "reset", "read", "read"}
	if got := fm.Calls(); !slices.Equal(got, want) {
		t.Errorf("calls = %v, want %v", got, want)
	}
	p.Close()
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
