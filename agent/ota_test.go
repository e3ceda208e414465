package agent

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loaxa/loaxa/agent/config"
	"github.com/loaxa/loaxa/agent/ladder"
	"github.com/loaxa/loaxa/audio/player"
	"github.com/loaxa/loaxa/internal/clock"
	"github.com/loaxa/loaxa/ota"
	"github.com/loaxa/loaxa/sim"
)

func TestBusyReason(t *testing.T) {
	for _, tc := range []struct {
		name string
		it   *ladder.Item
		want string
	}{
		{"nothing on air", nil, ""},
		{"emergency", &ladder.Item{ID: "bao-lu", CmdID: "c1", Level: ladder.Emergency}, "emergency"},
		{"live relay", &ladder.Item{ID: "tinh", CmdID: "c2", Level: ladder.Live}, "live"},
		{"scheduled emergency", &ladder.Item{ID: "bao:2026-12-01", Level: ladder.Emergency}, "emergency"},
		{"scheduled", &ladder.Item{ID: "ban-tin-sang:2026-12-01", Level: ladder.Normal}, "scheduled ban-tin-sang:2026-12-01"},
		{"a command's item named like a date", &ladder.Item{ID: "ban-tin-sang:2026-12-01", CmdID: "c3", Level: ladder.Normal}, ""},
		{"not a date", &ladder.Item{ID: "ban-tin:2026-13-01", Level: ladder.Normal}, ""},
		{"no id before the date", &ladder.Item{ID: ":2026-12-01", Level: ladder.Normal}, ""},
		{"no colon", &ladder.Item{ID: "x2026-12-01", Level: ladder.Normal}, ""},
		{"a bulletin", &ladder.Item{ID: "bt-1", CmdID: "c4", Level: ladder.Priority}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := busyReason(tc.it); got != tc.want {
				t.Errorf("busyReason = %q, want %q", got, tc.want)
			}
		})
	}
}

// fakeSupervisor is the supervisor's end of the control socket: it counts
// health reports and keeps the statuses.
type fakeSupervisor struct {
	info     ota.BootInfo
	mu       sync.Mutex // guards healthy, statuses, closed
	healthy  int
	statuses []string
	closed   bool
	reports  chan string // each report as it comes: "healthy" or the status
}

func newFakeSupervisor(trial bool) *fakeSupervisor {
	return &fakeSupervisor{
		info:    ota.BootInfo{Supervised: true, Slot: "b", Version: "test", Trial: trial, Other: ota.SlotState{Slot: "a", Version: "v1.0.0", Valid: true}},
		reports: make(chan string, 16),
	}
}

func (f *fakeSupervisor) Info() ota.BootInfo { return f.info }

func (f *fakeSupervisor) ReportHealthy(ctx context.Context) (ota.HealthReply, error) {
	f.mu.Lock()
	f.healthy++
	f.mu.Unlock()
	f.reports <- "healthy"
	if !f.info.Trial {
		return ota.HealthReply{}, nil
	}
	return ota.HealthReply{Committed: true, Event: &ota.BootEvent{Seq: 2, Kind: ota.BootCommitted, From: "v1.0.0", FromSlot: "a", To: "test", ToSlot: "b"}}, nil
}

func (f *fakeSupervisor) ReportStatus(ctx context.Context, status string) error {
	f.mu.Lock()
	f.statuses = append(f.statuses, status)
	f.mu.Unlock()
	f.reports <- status
	return nil
}

func (f *fakeSupervisor) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

// otaTestPole is newPole with a supervisor and a hook on the simulated
// hardware before the agent drives it.
func otaTestPole(t *testing.T, sup *fakeSupervisor, hw func(*sim.Hardware), withPlayer bool, keys ...string) *testPole {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.ID = "pole-ota"
	cfg.DataDir = dir
	cfg.OTA.Keys = keys
	clk := clock.NewFake(t0)
	h, err := sim.NewHardware(filepath.Join(dir, "sim"), cfg.Hardware.Layout, clk)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	if hw != nil {
		hw(h)
	}
	o := Options{Config: cfg, ConfigPath: filepath.Join(dir, "loaxa.toml"), Hardware: h.HAL(), Clock: clk,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "test"}
	if sup != nil {
		o.Attach = func() (SupervisorConn, error) { return sup, nil }
	}
	if withPlayer {
		o.Player, _ = player.New(player.Options{Sink: nullSink{}, Clock: clk})
		o.OpenSource = toneOpener
	}
	a, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return &testPole{Agent: a, sim: h, clk: clk, dir: dir, cfg: cfg}
}

// runOTA runs the updater and the part's goroutine as Run would, and
// carries out on the test's goroutine (serve) what they hand to Run.
func runOTA(t *testing.T, p *testPole) (serve func(until func() bool)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	p.ota.start(p.Agent)(ctx, &wg)
	t.Cleanup(func() { cancel(); wg.Wait() })
	return func(until func() bool) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for !until() {
			select {
			case f := <-p.calls:
				f()
			case <-p.notes.c:
				p.drainNotes()
			case <-deadline:
				t.Fatal("timed out")
			}
		}
	}
}

func TestOTACommandOnAnUnsupervisedPole(t *testing.T) {
	p := otaTestPole(t, nil, nil, false)
	runOTA(t, p)
	ack, _ := p.send(t, cmd("u1", "ota", `{"manifest":{},"signatures":[]}`))
	if ack.code() != "unsupported" || !strings.HasPrefix(ack.Error.Message, "unsupervised: ") || string(ack.Result) != `{"reason":"unsupervised"}` {
		t.Fatalf("ota on a pole without the supervisor: %s", ack.raw)
	}
	st := p.state()
	if st.OTA == nil || st.OTA.Version != "test" || st.OTA.Arch != ota.Arch() || st.OTA.State != ota.StateIdle || st.OTA.Slot != "" {
		t.Errorf("state's ota: %+v", st.OTA)
	}
	if p.updating() {
		t.Error("updating() without an update")
	}
}

func TestOTAHealthyOncePerStartWhenConnected(t *testing.T) {
	sup := newFakeSupervisor(true)
	p := otaTestPole(t, sup, nil, false)
	if !p.updating() {
		t.Error("updating() is false while the running version is on trial")
	}
	serve := runOTA(t, p)
	if got := <-sup.reports; got != "broker not connected" {
		t.Errorf("first report to the supervisor %q, want the broker it waits for", got)
	}
	p.linkEvent(LinkEvent{Kind: LinkUp, Session: 1})
	if got := <-sup.reports; got != "healthy" {
		t.Fatalf("report after the connection: %q", got)
	}
	// The updater records the commit the supervisor answered with.
	serve(func() bool { s := p.ota.u.Status(); return s.Slot == "b" && !s.Trial })
	p.linkEvent(LinkEvent{Kind: LinkUp, Session: 2})
	p.linkEvent(LinkEvent{Kind: LinkUp, Session: 3})
	select {
	case r := <-sup.reports:
		t.Errorf("a reconnection reported again: %q", r)
	default:
	}
	if p.updating() {
		t.Error("updating() still true after the commit")
	}
	p.Close()
	if !sup.closed {
		t.Error("Close left the supervisor connection open")
	}
}

func TestOTANotHealthyWhenARelayDoesNotAnswer(t *testing.T) {
	sup := newFakeSupervisor(true)
	p := otaTestPole(t, sup, func(h *sim.Hardware) {
		if err := h.SetOutputError("GPIO27", errors.New("I2C write failed")); err != nil {
			t.Fatal(err)
		}
	}, false)
	runOTA(t, p)
	p.linkEvent(LinkEvent{Kind: LinkUp, Session: 1})
	for range 2 { // the status at start, then at the connection
		if got := <-sup.reports; !strings.HasPrefix(got, "relays did not answer: zone z2 relay GPIO27") {
			t.Errorf("report %q, want the relay that did not answer", got)
		}
	}
	sup.mu.Lock()
	defer sup.mu.Unlock()
	if sup.healthy != 0 {
		t.Errorf("reported healthy %d times with a relay that does not answer", sup.healthy)
	}
}

// The switch asked while an emergency plays waits for its end; then Run
// ends with ErrSwitch.
func TestOTASwitchWaitsForTheEndOfAnEmergency(t *testing.T) {
	p := otaTestPole(t, nil, nil, true)
	p.send(t, playCmd("e1", `{"source":"tone:1000","priority":"emergency","item":"bao-lu"}`))
	if p.ota.busy != "emergency" {
		t.Fatalf("busy %q with an emergency on air", p.ota.busy)
	}
	p.otaSwitch()
	if p.restart || !p.ota.switchAsked {
		t.Fatal("the switch did not wait for the emergency")
	}
	ack, _ := p.send(t, cmd("s1", "stop", `{"item":"bao-lu"}`))
	if !ack.OK {
		t.Fatalf("stop: %s", ack.raw)
	}
	for p.seq.Item() != nil {
		p.clk.Advance(10 * time.Millisecond)
		select {
		case <-p.seqC:
			p.seqFired()
		case ev := <-p.player.Events():
			p.playerEvent(ev)
		default:
		}
	}
	if !p.restart || p.stopError() != ErrSwitch || p.ota.busy != "" {
		t.Fatalf("after the emergency: restart %v, stop error %v, busy %q", p.restart, p.stopError(), p.ota.busy)
	}
}

func TestOTAStatusInTheState(t *testing.T) {
	p := otaTestPole(t, newFakeSupervisor(false), nil, false)
	serve := runOTA(t, p)
	serve(func() bool { return p.ota.u.Status().Slot != "" })
	b, err := json.Marshal(p.state())
	if err != nil {
		t.Fatal(err)
	}
	want := `"ota":{"version":"test","arch":"` + ota.Arch() + `","slot":"b","other":{"slot":"a","version":"v1.0.0","valid":true},"state":"idle"}`
	if !strings.Contains(string(b), want) {
		t.Errorf("state %s\nlacks %s", b, want)
	}
}

// The schedule may hold the switch between the items of a programme.
func TestOTAScheduleHoldsTheSwitch(t *testing.T) {
	p := otaTestPole(t, nil, nil, false)
	p.scheduleBusy("chuong-trinh-sang")
	if p.ota.busy != "scheduled chuong-trinh-sang" {
		t.Fatalf("busy %q", p.ota.busy)
	}
	p.otaSwitch()
	if p.restart {
		t.Fatal("switched during a scheduled programme")
	}
	p.scheduleBusy("")
	if !p.restart || p.stopError() != ErrSwitch {
		t.Fatalf("after the programme: restart %v, %v", p.restart, p.stopError())
	}
}

func TestOTACommandAccepted(t *testing.T) {
	key, err := ota.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	p := otaTestPole(t, newFakeSupervisor(false), nil, false, key.Public().String())
	// Before the updater runs (a test's pole, or an agent stopping): an
	// answer at once, not a wait.
	ack, _ := p.send(t, cmd("u0", "ota", `{}`))
	if ack.code() != "internal" || !strings.HasPrefix(ack.Error.Message, "closed: ") {
		t.Fatalf("ota with the updater stopped: %s", ack.raw)
	}
	serve := runOTA(t, p)
	v, _ := ota.ParseVersion("v9.0.0")
	m := ota.Manifest{Format: ota.ManifestFormat, Version: v, Arch: ota.Arch(), Size: 1 << 20, SHA256: strings.Repeat("ab", 32),
		URLs: []string{"http://127.0.0.1:1/loaxad"}, Issued: t0.Add(-time.Hour), Expires: t0.Add(time.Hour)}
	signed := ota.Signed{Manifest: m, Signatures: []ota.Signature{key.Sign(&m)}}
	raw := string(signed.Marshal())
	ack, _ = p.send(t, cmd("u1", "ota", raw))
	if !ack.OK || string(ack.Result) != `{"version":"v9.0.0","state":"verified"}` {
		t.Fatalf("ota: %s", ack.raw)
	}
	if again, _ := p.send(t, cmd("u1", "ota", raw)); again.raw != ack.raw {
		t.Errorf("a redelivery was answered %s, want the first answer %s", again.raw, ack.raw)
	}
	ack, _ = p.send(t, cmd("u2", "ota", raw))
	if !ack.OK || !strings.Contains(string(ack.Result), `"resumed":true`) {
		t.Errorf("the same manifest under a new id: %s", ack.raw)
	}
	if !p.updating() {
		t.Error("updating() is false with an update under way")
	}
	if why := p.rebootHold(); why != "update" {
		t.Errorf("the connectivity watchdog may reboot during an update (hold %q)", why)
	}
	// The updater's transition is published in the state.
	serve(func() bool {
		for _, m := range p.published() {
			if m.Topic == p.topics.State() && strings.Contains(string(m.Payload), `"target":"v9.0.0"`) {
				return true
			}
		}
		return false
	})
}

// A report queued just before the agent stops is published, not lost with
// the process: the updater reports ota.switching, then asks for the
// switch, and Run may see the switch first. (Seen under load: the event
// never reached the operator, the rest of the update did.)
func TestReportQueuedBeforeAStopIsPublished(t *testing.T) {
	p := otaTestPole(t, nil, nil, false)
	p.published()
	p.Report("ota.switching", map[string]any{"version": "v1.1.0", "slot": "b"})
	p.otaSwitch()
	p.shutdown("agent_restarted", nil)
	for _, m := range p.published() {
		if strings.Contains(string(m.Payload), `"type":"ota.switching"`) {
			return
		}
	}
	t.Fatal("ota.switching was not published before the agent stopped")
}
