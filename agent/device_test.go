package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/loaxa/loaxa/agent/config"
	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/audio/guard"
	"github.com/loaxa/loaxa/audio/player"
	"github.com/loaxa/loaxa/sim"
)

// wedgeSink plays in real time until it is wedged; then every write
// blocks until release is closed, as PortAudio's did on a stopped JACK
// server (issue 7, finding 7).
type wedgeSink struct {
	pacedSink
	mu      sync.Mutex
	wedged  bool
	release chan struct{}
}

func (w *wedgeSink) wedge() {
	w.mu.Lock()
	w.wedged = true
	w.mu.Unlock()
}

func (w *wedgeSink) Write(p []int16) error {
	w.mu.Lock()
	wedged := w.wedged
	w.mu.Unlock()
	if wedged {
		<-w.release
		return nil
	}
	return w.pacedSink.Write(p)
}

// wedgePole is runPole on a guarded device: the opener hands out devices
// in turn (the first at start, the others on each reopen).
type wedgePole struct {
	*runningPole
	guard   *guard.Sink
	devices []*wedgeSink
}

func runWedgePole(t *testing.T, devices ...*wedgeSink) *wedgePole {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.ID = "pole-wedge"
	cfg.DataDir = dir
	cfg.MQTT.Broker = "tcp://127.0.0.1:1"
	cfg.Audio.AmpWarmupMS = 40
	cfg.Audio.RelaySettleMS = 20
	cfg.Audio.FadeMS = 20
	cfg.Audio.AmpHoldS = 1
	cfg.Audio.Chime = nil
	hw, err := sim.NewHardware("", cfg.Hardware.Layout, nil)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	var mu sync.Mutex
	next := 0
	g, err := guard.Open(guard.Options{Log: log, Open: func() (audio.Sink, error) {
		mu.Lock()
		defer mu.Unlock()
		d := devices[min(next, len(devices)-1)]
		next++
		return d, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	pl, err := player.New(player.Options{Sink: g, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{Config: cfg, ConfigPath: filepath.Join(dir, "loaxa.toml"), Hardware: hw.HAL(), Log: log, Version: "test",
		Player: pl, OpenSource: toneOpener, Device: g})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &runningPole{testPole: &testPole{Agent: a, sim: hw, dir: dir, cfg: cfg}, sink: &devices[0].pacedSink, cancel: cancel, done: make(chan error, 1)}
	go func() { p.done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-p.done
		g.Close()
		// The abandoned writes return at last; their goroutines end.
		for _, d := range devices {
			select {
			case <-d.release:
			default:
				close(d.release)
			}
		}
	})
	return &wedgePole{runningPole: p, guard: g, devices: devices}
}

func newWedgeSink() *wedgeSink { return &wedgeSink{release: make(chan struct{})} }

// alarmEvent returns the first alarm (or alarm_cleared) event of name,
// published already or waited for. The alarm and the player's end of the
// item come from different goroutines, in either order, and a wait for
// one drops what came before it from the backlog: hence the history.
func (p *runningPole) alarmEvent(t *testing.T, typ, name string) map[string]any {
	t.Helper()
	var data map[string]any
	match := func(m Message) bool {
		var ev wire.Event
		if m.Topic != p.topics.Event() || json.Unmarshal(m.Payload, &ev) != nil {
			return false
		}
		if ev.Type == typ && ev.Data["name"] == name {
			data = ev.Data
			return true
		}
		return false
	}
	for _, m := range p.history {
		if match(m) {
			return data
		}
	}
	p.waitMsg(t, typ+" "+name, match)
	return data
}

// Issue 7, finding 7: a device whose writes never return must not hold
// the agent: the item ends failed, the audio.device alarm is raised, the
// agent answers meanwhile, and clears the alarm once the device is back.
func TestWedgedDeviceFailsTheItemRaisesTheAlarmAndRecovers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		first, second := newWedgeSink(), newWedgeSink()
		p := runWedgePole(t, first, second)
		p.do(t, playCmd("n1", `{"source":"tone:440","duration_s":60}`))
		p.waitEvent(t, "play.start", "n1")
		time.Sleep(300 * time.Millisecond)
		first.wedge()
		wedgedAt := time.Now()
		// The agent answers while the player waits on the stuck write.
		if ack := p.do(t, `{"id":"ping1","cmd":"ping"}`); !ack.OK {
			t.Fatalf("ping while the device is stuck: %s", ack.raw)
		}
		end := p.waitEvent(t, "play.end", "n1")
		if end["reason"] != "failed" || !strings.Contains(end["error"].(string), "stuck") {
			t.Fatalf("play.end %v, want reason failed with the device's error", end)
		}
		if took := time.Since(wedgedAt); took > 2*guard.DefaultMinDeadline {
			t.Errorf("the item ended %v after the device wedged", took)
		}
		alarm := p.alarmEvent(t, "alarm", alarmAudioDevice)
		if !strings.Contains(alarm["detail"].(string), "did not return within") {
			t.Errorf("alarm detail %q does not say what happened", alarm["detail"])
		}
		// The reopened device works: the alarm goes, and playing works.
		p.alarmEvent(t, "alarm_cleared", alarmAudioDevice)
		p.do(t, playCmd("n2", `{"source":"tone:440","duration_s":0.5}`))
		if end := p.waitEvent(t, "play.end", "n2"); end["reason"] != "completed" {
			t.Errorf("n2 after the recovery: %v", end)
		}
		if got, _ := second.snapshot(); len(got) == 0 {
			t.Error("nothing reached the reopened device")
		}
		if p.guard.Abandoned() != 1 {
			t.Errorf("%d abandoned writes, want the one stuck", p.guard.Abandoned())
		}
	})
}

// Stop and shutdown finish within a bound whatever the device does.
func TestWedgedDeviceDoesNotHoldStopOrShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		only := newWedgeSink()
		p := runWedgePole(t, only)
		p.do(t, playCmd("n1", `{"source":"tone:440","duration_s":60}`))
		p.waitEvent(t, "play.start", "n1")
		only.wedge()
		start := time.Now()
		if ack := p.do(t, `{"id":"s1","cmd":"stop","args":{}}`); !ack.OK {
			t.Fatalf("stop: %s", ack.raw)
		}
		p.waitEvent(t, "play.end", "n1")
		if took := time.Since(start); took > 2*guard.DefaultMinDeadline {
			t.Errorf("stop took %v to close the item", took)
		}
		p.do(t, playCmd("n2", `{"source":"tone:440","duration_s":60}`))
		p.waitEvent(t, "play.end", "n2") // fails: the device is still stuck
		start = time.Now()
		p.cancel()
		<-p.done
		p.done <- nil
		if took := time.Since(start); took > 2*guard.DefaultMinDeadline {
			t.Errorf("the agent took %v to stop", took)
		}
	})
}

// The agent stops within a bound even while the player is inside a write
// that will never return.
func TestAgentStopsDuringAStuckWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		only := newWedgeSink()
		p := runWedgePole(t, only)
		p.do(t, playCmd("n1", `{"source":"tone:440","duration_s":60}`))
		p.waitEvent(t, "play.start", "n1")
		only.wedge()
		time.Sleep(100 * time.Millisecond) // the player is in the stuck write
		start := time.Now()
		p.cancel()
		<-p.done
		p.done <- nil
		// The fade the agent waits for (at most 1 s) cannot come; the
		// player's write is abandoned at its deadline.
		if took := time.Since(start); took > guard.DefaultMinDeadline+time.Second {
			t.Errorf("the agent took %v to stop", took)
		}
		if end := p.waitEvent(t, "play.end", "n1"); end["reason"] != "agent_stopped" {
			t.Errorf("n1 closed with %v", end)
		}
	})
}

// fakeHealth is a device whose status a test sets.
type fakeHealth struct {
	mu      sync.Mutex
	st      guard.Status
	changed chan struct{}
}

func (f *fakeHealth) Status() (guard.Status, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st, f.changed
}

func (f *fakeHealth) set(st guard.Status) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st = st
	close(f.changed)
	f.changed = make(chan struct{})
}

// A failure the device recovered from before the agent looked is still
// raised (an item failed because of it), then cleared.
func TestDeviceFailureCuredBeforeItWasSeenIsStillReported(t *testing.T) {
	p := newPole(t, "", nil)
	h := &fakeHealth{changed: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case f := <-p.calls:
				f()
			case <-ctx.Done():
				return
			}
		}
	}()
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		p.watchDevice(ctx, h)
	}()
	h.set(guard.Status{Failures: 1, Last: errors.New("a write did not return within 2s")})
	var evs []string
	for deadline := time.Now().Add(10 * time.Second); len(evs) < 2 && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		for _, m := range p.published() {
			var ev wire.Event
			if m.Topic == p.topics.Event() && json.Unmarshal(m.Payload, &ev) == nil && ev.Data["name"] == alarmAudioDevice {
				evs = append(evs, ev.Type+": "+fmt.Sprint(ev.Data["detail"]))
			}
		}
	}
	cancel()
	<-watched
	<-done
	if len(evs) != 2 || !strings.HasPrefix(evs[0], "alarm: a write did not return within 2s (reopened since") || evs[1] != "alarm_cleared: <nil>" {
		t.Errorf("events %q, want the alarm with the cured failure, then its clearing", evs)
	}
}
