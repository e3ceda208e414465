package agent

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/loaxa/loaxa/agent/config"
	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/audio/player"
	"github.com/loaxa/loaxa/hal"
	"github.com/loaxa/loaxa/internal/clock"
	"github.com/loaxa/loaxa/sim"
)

// Helpers for the tests of the modem, health and watchdog glue: an agent
// on the fake clock whose parts run (the poller, the health reader, the
// watchdog's worker) while the test plays the Run goroutine: it runs what
// the parts hand over (pump) and fires the watchdog's timer.

// partsPole builds an agent like handPole (a player that is never run,
// so items stay on air until the test ends them), starting at start, with
// the configuration and options edited.
func partsPole(t *testing.T, dir string, start time.Time, edit func(*config.Config), mod func(*Options)) *testPole {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	cfg := config.Default()
	cfg.ID = "pole-parts"
	cfg.DataDir = dir
	if edit != nil {
		edit(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(start)
	hw, err := sim.NewHardware(filepath.Join(dir, "sim"), cfg.Hardware.Layout, clk)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hw.Close() })
	pl, _ := player.New(player.Options{Sink: nullSink{}, Clock: clk})
	opts := Options{Config: cfg, ConfigPath: filepath.Join(dir, "loaxa.toml"), Hardware: hw.HAL(), Clock: clk,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "test", Player: pl, OpenSource: toneOpener}
	if mod != nil {
		mod(&opts)
	}
	a, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return &testPole{Agent: a, sim: hw, clk: clk, dir: dir, cfg: cfg}
}

// startParts starts the agent's parts as Run does, and returns the stop
// that Run's end would be (also registered as a cleanup).
func startParts(t *testing.T, p *testPole) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, s := range p.starters {
		s(ctx, &wg)
	}
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

// pump runs what the parts handed to the Run goroutine, and the
// watchdog's evaluation when its timer fired.
func pump(p *testPole) {
	for {
		select {
		case f := <-p.calls:
			f()
		case <-p.wd.c:
			p.watchdogDue()
		default:
			return
		}
	}
}

// runFor moves the fake clock forward by d in steps of a second, pumping
// after each, and lets the parts' goroutines catch up.
func runFor(p *testPole, d time.Duration) {
	for end := p.clk.Now().Add(d); p.clk.Now().Before(end); {
		p.clk.Advance(time.Second)
		settle(p)
	}
}

// settle pumps until the parts have nothing more to hand over for a
// little while (they react to the fake clock in their own goroutines).
func settle(p *testPole) {
	for quiet := 0; quiet < 3; {
		select {
		case f := <-p.calls:
			f()
			quiet = 0
		case <-p.wd.c:
			p.watchdogDue()
			quiet = 0
		case <-time.After(time.Millisecond):
			quiet++
		}
	}
}

// waitPumped pumps until cond holds, on the real clock (for the parts'
// goroutines), failing after 10 s.
func waitPumped(t *testing.T, p *testPole, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		pump(p)
		time.Sleep(time.Millisecond)
	}
}

// eventsOf returns the events of type typ among msgs.
func eventsOf(p *testPole, msgs []Message, typ string) []map[string]any {
	var out []map[string]any
	for _, m := range msgs {
		var ev wire.Event
		if m.Topic == p.topics.Event() && json.Unmarshal(m.Payload, &ev) == nil && ev.Type == typ {
			out = append(out, ev.Data)
		}
	}
	return out
}

// scriptedModem is a hal.Modem whose answers the test sets, and that
// remembers the actions asked of it.
type scriptedModem struct {
	mu      sync.Mutex
	r       hal.ModemReading
	err     error
	actErr  error
	actions []string
}

func (m *scriptedModem) String() string { return "fake modem" }

func (m *scriptedModem) Read(ctx context.Context) (hal.ModemReading, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.r, m.err
}

func (m *scriptedModem) act(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.actions = append(m.actions, name)
	return m.actErr
}

func (m *scriptedModem) RadioOff(context.Context) error { return m.act("AT+CFUN=0") }
func (m *scriptedModem) RadioOn(context.Context) error  { return m.act("AT+CFUN=1") }
func (m *scriptedModem) Reset(context.Context) error    { return m.act("AT+CFUN=1,1") }
func (m *scriptedModem) Halt() error                    { return nil }

func (m *scriptedModem) set(r hal.ModemReading, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.r, m.err = r, err
}

func (m *scriptedModem) done() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.actions...)
}

// fakeRelay is a hal.Output that remembers its levels.
type fakeRelay struct {
	mu   sync.Mutex
	sets []bool
}

func (r *fakeRelay) String() string { return "fake relay" }
func (r *fakeRelay) Halt() error    { return r.Set(false) }
func (r *fakeRelay) Set(on bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sets = append(r.sets, on)
	return nil
}

func (r *fakeRelay) levels() []bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bool(nil), r.sets...)
}
