package agent

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loaxa/loaxa/agent/config"
	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/hal"
	"github.com/loaxa/loaxa/internal/clock"
	"github.com/loaxa/loaxa/internal/testenv"
	"github.com/loaxa/loaxa/sim"
)

var t0 = time.Date(2026, 11, 25, 5, 30, 0, 0, time.UTC)

type testPole struct {
	*Agent
	sim  *sim.Hardware
	clk  *clock.Fake
	dir  string
	cfg  *config.Config
	seen uint64 // outbox messages already looked at (their order)
}

// newPole builds an agent on simulated hardware whose link is never run:
// what it would publish stays in the link's outbox for the test to read.
func newPole(t *testing.T, dir string, edit func(*config.Config)) *testPole {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	cfg := config.Default()
	cfg.ID = "pole-test"
	cfg.DataDir = dir
	if edit != nil {
		edit(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(t0)
	hw, err := sim.NewHardware(filepath.Join(dir, "sim"), cfg.Hardware.Layout, clk)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hw.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := New(Options{Config: cfg, ConfigPath: filepath.Join(dir, "loaxa.toml"), Hardware: hw.HAL(), Clock: clk, Log: log, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return &testPole{Agent: a, sim: hw, clk: clk, dir: dir, cfg: cfg}
}

// published returns the messages queued since the last call.
func (p *testPole) published() []Message {
	o := p.link.out
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []Message
	for _, it := range o.items {
		if it.order > p.seen {
			out = append(out, it.Message)
			p.seen = it.order
		}
	}
	return out
}

// send delivers a command payload and returns the ack it produced (nil if
// none) and everything else published meanwhile.
func (p *testPole) send(t *testing.T, payload string) (*ackDoc, []Message) {
	t.Helper()
	p.published()
	p.handle(Inbound{Topic: p.topics.Cmd(), Payload: []byte(payload)})
	var ack *ackDoc
	var other []Message
	for _, m := range p.published() {
		if m.Topic == p.topics.Ack() {
			if ack != nil {
				t.Fatalf("two acks for one command: %s", m.Payload)
			}
			ack = &ackDoc{raw: string(m.Payload)}
			if err := json.Unmarshal(m.Payload, ack); err != nil {
				t.Fatalf("ack is not JSON: %s", m.Payload)
			}
			continue
		}
		other = append(other, m)
	}
	return ack, other
}

type ackDoc struct {
	ID     string          `json:"id"`
	Cmd    string          `json:"cmd"`
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	raw string
}

func (a *ackDoc) code() string {
	if a == nil || a.Error == nil {
		return ""
	}
	return a.Error.Code
}

func (p *testPole) level(t *testing.T, pin string) bool {
	t.Helper()
	on, _ := p.sim.Level(pin)
	return on
}

func cmd(id, name, args string) string {
	if args == "" {
		return fmt.Sprintf(`{"id":%q,"cmd":%q}`, id, name)
	}
	return fmt.Sprintf(`{"id":%q,"cmd":%q,"args":%s}`, id, name, args)
}

func TestCommandErrors(t *testing.T) {
	big := `{"id":"big","cmd":"ping","args":{"pad":"` + strings.Repeat("x", wire.MaxPayload) + `"}}`
	tests := []struct {
		name, payload string
		wantID        string
		wantCode      string
		wantMsg       string
	}{
		{"not json", `{"id":`, "", "bad_request", "not a JSON object"},
		{"array", `[1,2]`, "", "bad_request", "not a JSON object"},
		{"no id", `{"cmd":"ping"}`, "", "bad_request", `missing "id"`},
		{"id not string", `{"id":7,"cmd":"ping"}`, "", "bad_request", `"id" must be a string`},
		{"no cmd", `{"id":"c1"}`, "c1", "bad_request", `missing "cmd"`},
		{"args not object", `{"id":"c2","cmd":"ping","args":[1]}`, "c2", "bad_request", `"args" must be an object`},
		{"unknown command", cmd("c3", "dance", ""), "c3", "unknown_command", `"dance"`},
		{"ota without the supervisor", cmd("c4", "ota", `{}`), "c4", "unsupported", "loaxad supervise"},
		{"play without an audio output", cmd("c4b", "play", `{"source":"tone:440"}`), "c4b", "unsupported", "no audio output"},
		{"volume out of range", cmd("c5", "volume", `{"level":140}`), "c5", "bad_args", "level must be 0..100, got 140"},
		{"volume wrong type", cmd("c6", "volume", `{"level":"loud"}`), "c6", "bad_args", "args.level"},
		{"volume missing", cmd("c7", "volume", `{}`), "c7", "bad_args", `"level" is required`},
		{"zones unknown", cmd("c8", "zones", `{"on":["z9"]}`), "c8", "bad_args", `unknown zone "z9"`},
		{"zones both", cmd("c9", "zones", `{"on":["z1"],"off":["z1"]}`), "c9", "bad_args", "both in on and off"},
		{"zones all and on", cmd("c10", "zones", `{"all":true,"on":["z1"]}`), "c10", "bad_args", "not both"},
		{"zones nothing", cmd("c11", "zones", `{}`), "c11", "bad_args", "nothing to switch"},
		{"unknown arg", cmd("c12", "zones", `{"onn":["z1"]}`), "c12", "bad_args", "onn"},
		{"expired", `{"id":"c13","cmd":"zones","args":{"all":true},"ts":` + fmt.Sprint(t0.UnixMilli()-60000) + `,"ttl":30000}`, "c13", "expired", "expired 30s ago"},
		{"ttl without ts", `{"id":"c14","cmd":"ping","ttl":1000}`, "c14", "bad_request", `"ttl" needs "ts"`},
		{"too large", big, "big", "too_large", "limit is 65536"},
		{"config.set unknown key", cmd("c15", "config.set", `{"values":{"tele_intervall":30}}`), "c15", "bad_args", "tele_intervall"},
		{"config.set invalid value", cmd("c16", "config.set", `{"values":{"tele_interval":5}}`), "c16", "bad_args", "key tele_interval: must be 10..3600 seconds, got 5"},
		{"config.set wrong type", cmd("c17", "config.set", `{"values":{"tele_interval":"soon"}}`), "c17", "bad_args", "tele_interval"},
		{"config.set fixed key", cmd("c18", "config.set", `{"values":{"id":"other-pole"}}`), "c18", "bad_args", "cannot be changed remotely"},
		{"invalid utf8", "{\"id\":\"c19\",\"cmd\":\"\xff\"}", "", "bad_request", "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPole(t, "", nil)
			before := p.sim.Transitions()
			ack, _ := p.send(t, tt.payload)
			if ack == nil {
				t.Fatal("no ack")
			}
			if ack.OK || ack.code() != tt.wantCode || ack.ID != tt.wantID {
				t.Fatalf("ack = %s, want id %q code %s", ack.raw, tt.wantID, tt.wantCode)
			}
			if !strings.Contains(ack.Error.Message, tt.wantMsg) {
				t.Errorf("message %q does not say %q", ack.Error.Message, tt.wantMsg)
			}
			if got := p.sim.Transitions(); len(got) != len(before) {
				t.Errorf("a refused command moved relays: %v", got[len(before):])
			}
		})
	}
}

func TestZonesSwitchRelaysAndState(t *testing.T) {
	p := newPole(t, "", nil)
	ack, other := p.send(t, cmd("a1", "zones", `{"on":["z1","z3"]}`))
	if !ack.OK {
		t.Fatalf("ack: %s", ack.raw)
	}
	if !p.level(t, "GPIO17") || p.level(t, "GPIO27") || !p.level(t, "GPIO22") || p.level(t, "GPIO23") {
		t.Fatalf("pins after zones on z1,z3: %v", p.sim.Transitions())
	}
	var res struct{ Zones map[string]bool }
	json.Unmarshal(ack.Result, &res)
	if want := map[string]bool{"z1": true, "z2": false, "z3": true, "z4": false}; fmt.Sprint(res.Zones) != fmt.Sprint(want) {
		t.Errorf("ack zones = %v, want %v", res.Zones, want)
	}
	st := lastState(t, p, other)
	if !st.Zones["z1"] || !st.Zones["z3"] || st.Zones["z2"] {
		t.Errorf("state zones = %v", st.Zones)
	}
	ack, _ = p.send(t, cmd("a2", "zones", `{"all":false}`))
	if !ack.OK || p.level(t, "GPIO17") || p.level(t, "GPIO22") {
		t.Fatalf("all off: ack %s, transitions %v", ack.raw, p.sim.Transitions())
	}
	// Electrical level on an active-low board: relay on = line low.
	tr := p.sim.Transitions()
	for _, x := range tr {
		if x.On == (x.Level == 1) {
			t.Errorf("active-low pin %s: on=%v drove level %d", x.Pin, x.On, x.Level)
		}
	}
}

func lastState(t *testing.T, p *testPole, msgs []Message) wire.State {
	t.Helper()
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Topic == p.topics.State() {
			if !msgs[i].Retained {
				t.Error("state published without retain")
			}
			var st wire.State
			if err := json.Unmarshal(msgs[i].Payload, &st); err != nil {
				t.Fatal(err)
			}
			return st
		}
	}
	t.Fatal("no state published")
	return wire.State{}
}

func TestRepeatedIDNotExecutedTwice(t *testing.T) {
	p := newPole(t, "", nil)
	first, _ := p.send(t, cmd("dup-1", "zones", `{"on":["z2"]}`))
	p.send(t, cmd("dup-2", "zones", `{"off":["z2"]}`))
	n := len(p.sim.Transitions())
	again, other := p.send(t, cmd("dup-1", "zones", `{"on":["z2"]}`))
	if again == nil || again.raw != first.raw {
		t.Fatalf("redelivery ack = %v, want the first ack %s", again, first.raw)
	}
	if p.level(t, "GPIO27") || len(p.sim.Transitions()) != n || len(other) != 0 {
		t.Fatalf("redelivered command executed again: %v", p.sim.Transitions()[n:])
	}
	// The memory of answered ids survives a restart of the agent.
	p.Close() // as the agent does when it stops
	p2 := newPole(t, p.dir, nil)
	again, _ = p2.send(t, cmd("dup-1", "zones", `{"on":["z2"]}`))
	if again == nil || again.raw != first.raw || p2.level(t, "GPIO27") {
		t.Fatalf("after restart: ack %v, z2 %v", again, p2.level(t, "GPIO27"))
	}
}

func TestRetainedCommandIgnored(t *testing.T) {
	p := newPole(t, "", nil)
	p.published()
	p.handle(Inbound{Topic: p.topics.Cmd(), Retained: true, Payload: []byte(cmd("stale", "zones", `{"all":true}`))})
	p.handle(Inbound{Topic: p.topics.GroupCmd("all"), Retained: true, Payload: []byte(cmd("stale2", "zones", `{"all":true}`))})
	if len(p.sim.Transitions()) != 0 {
		t.Fatalf("retained command switched relays: %v", p.sim.Transitions())
	}
	var events, clears int
	for _, m := range p.published() {
		switch {
		case m.Topic == p.topics.Ack():
			t.Errorf("retained command acked: %s", m.Payload)
		case m.Topic == p.topics.Event() && strings.Contains(string(m.Payload), wire.EventRetainedIgnored):
			events++
		case m.Topic == p.topics.Cmd() && m.Retained && len(m.Payload) == 0:
			clears++
		}
	}
	if events != 2 || clears != 1 {
		t.Errorf("events %d (want 2), clears of the device topic %d (want 1)", events, clears)
	}
}

func TestVolumePersisted(t *testing.T) {
	p := newPole(t, "", nil)
	if ack, _ := p.send(t, cmd("v1", "volume", `{"level":35}`)); !ack.OK {
		t.Fatal(ack.raw)
	}
	p.Close()
	p2 := newPole(t, p.dir, nil)
	if p2.volume != 35 {
		t.Fatalf("volume after restart = %d, want 35", p2.volume)
	}
}

func TestPowerOnPolicy(t *testing.T) {
	for _, policy := range []string{"restore", "off"} {
		t.Run(policy, func(t *testing.T) {
			p := newPole(t, "", func(c *config.Config) { c.PowerOn = policy })
			p.send(t, cmd("p1", "zones", `{"on":["z1","z4"]}`))
			p.Close()
			p2 := newPole(t, p.dir, func(c *config.Config) { c.PowerOn = policy })
			want := policy == "restore"
			if p2.level(t, "GPIO17") != want || p2.level(t, "GPIO23") != want || p2.level(t, "GPIO27") {
				t.Fatalf("after restart with %s: z1 %v z4 %v", policy, p2.level(t, "GPIO17"), p2.level(t, "GPIO23"))
			}
			for _, tr := range p2.sim.Transitions() {
				if policy == "restore" && tr.Output != "amp" {
					t.Errorf("restore glitched a zone relay: %+v", tr)
				}
				if policy == "off" && tr.On {
					t.Errorf("off policy switched something on: %+v", tr)
				}
			}
		})
	}
}

func TestFailedSaveChangesNothing(t *testing.T) {
	p := newPole(t, "", nil)
	// The state journal fails its appends, as on a failing card.
	p.store.state.Close()
	ack, _ := p.send(t, cmd("f1", "zones", `{"on":["z1"]}`))
	if ack.OK || ack.code() != "internal" || !strings.Contains(ack.Error.Message, "no zone was changed") {
		t.Fatalf("ack = %s", ack.raw)
	}
	if p.level(t, "GPIO17") || p.zones["z1"] {
		t.Fatal("z1 left on after a failed save")
	}
	ack, _ = p.send(t, cmd("f2", "volume", `{"level":10}`))
	if ack.code() != "internal" || p.volume != defaultVolume {
		t.Fatalf("volume ack %s, volume %d", ack.raw, p.volume)
	}
	if _, ok := p.alarms["storage"]; !ok {
		t.Error("no storage alarm")
	}
}

func TestConfigSetGet(t *testing.T) {
	p := newPole(t, "", nil)
	ack, other := p.send(t, cmd("k1", "config.set", `{"values":{"tele_interval":30,"groups":["xa-hung-loc"],"mqtt.password":"hunter22","mqtt.broker":"tcp://10.0.0.1:1883"}}`))
	if !ack.OK {
		t.Fatal(ack.raw)
	}
	var res struct {
		Changed         []string `json:"changed"`
		RestartRequired []string `json:"restart_required"`
	}
	json.Unmarshal(ack.Result, &res)
	if fmt.Sprint(res.RestartRequired) != "[mqtt.broker mqtt.password]" {
		t.Errorf("restart_required = %v", res.RestartRequired)
	}
	if p.cfg.TeleInterval != 60 || p.Agent.cfg.TeleInterval != 30 {
		t.Errorf("tele_interval not applied live: %d", p.Agent.cfg.TeleInterval)
	}
	if p.Agent.cfg.MQTT.Broker == "tcp://10.0.0.1:1883" {
		t.Error("the broker of the running agent changed without a restart")
	}
	if st := lastState(t, p, other); fmt.Sprint(st.Groups) != "[all xa-hung-loc]" {
		t.Errorf("state groups = %v", st.Groups)
	}
	saved, err := config.Load(filepath.Join(p.dir, "loaxa.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if saved.TeleInterval != 30 || saved.MQTT.Broker != "tcp://10.0.0.1:1883" || saved.MQTT.Password != "hunter22" {
		t.Errorf("saved config: %+v", saved)
	}
	if info, _ := os.Stat(filepath.Join(p.dir, "loaxa.toml")); info.Mode().Perm() != 0o600 {
		t.Errorf("config file mode %v, want 0600 (it holds secrets)", info.Mode().Perm())
	}
	ack, other = p.send(t, cmd("k2", "config.get", ""))
	if strings.Contains(ack.raw, "hunter22") {
		t.Fatal("config.get read a secret back")
	}
	for _, m := range other {
		if strings.Contains(string(m.Payload), "hunter22") {
			t.Fatalf("secret published on %s", m.Topic)
		}
	}
	if !strings.Contains(ack.raw, `"secrets_set":["mqtt.password"]`) || !strings.Contains(ack.raw, `"tele_interval":30`) {
		t.Errorf("config.get = %s", ack.raw)
	}
	ack, _ = p.send(t, cmd("k3", "config.get", `{"keys":["mqtt"]}`))
	if !strings.Contains(ack.raw, `"mqtt.broker"`) || strings.Contains(ack.raw, `"tele_interval"`) {
		t.Errorf("config.get mqtt = %s", ack.raw)
	}
}

func TestSignedCommands(t *testing.T) {
	key := "00112233445566778899aabbccddeeff"
	p := newPole(t, "", func(c *config.Config) {
		c.Auth.CommandKey = key
		c.Auth.Signed = []string{"zones"}
	})
	k, _ := hex.DecodeString(key)
	ts := t0.UnixMilli()
	args := `{"on":["z1"]}`
	good := wire.Sign(k, "dev/pole-test", "s1", "zones", ts, []byte(args))
	tests := []struct {
		name, payload, code string
	}{
		{"unsigned", cmd("s0", "zones", args), "unauthorized"},
		{"bad signature", fmt.Sprintf(`{"id":"s1","cmd":"zones","args":%s,"ts":%d,"auth":"%s"}`, `{"on":["z2"]}`, ts, good), "unauthorized"},
		{"stale ts", fmt.Sprintf(`{"id":"s1","cmd":"zones","args":%s,"ts":%d,"auth":"%s"}`, args, ts-3600_000, wire.Sign(k, "dev/pole-test", "s1", "zones", ts-3600_000, []byte(args))), "unauthorized"},
		{"good", fmt.Sprintf(`{"id":"s1","cmd":"zones","args":%s,"ts":%d,"auth":"%s"}`, args, ts, good), ""},
		{"ping needs no signature", cmd("s2", "ping", ""), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ack, _ := p.send(t, tt.payload)
			if ack.code() != tt.code {
				t.Fatalf("ack = %s, want code %q", ack.raw, tt.code)
			}
		})
	}
	if !p.level(t, "GPIO17") || p.level(t, "GPIO27") {
		t.Error("only the well-signed command may switch relays")
	}
}

// signedPole is a pole whose zones commands must be signed.
func signedPole(t *testing.T, dir string, edit func(*config.Config)) (*testPole, []byte) {
	t.Helper()
	key := "00112233445566778899aabbccddeeff"
	p := newPole(t, dir, func(c *config.Config) {
		c.Auth.CommandKey = key
		c.Auth.Signed = []string{"zones"}
		if edit != nil {
			edit(c)
		}
	})
	k, _ := hex.DecodeString(key)
	return p, k
}

func signedCmd(k []byte, target, id, name, args string, ts int64) string {
	return fmt.Sprintf(`{"id":%q,"cmd":%q,"args":%s,"ts":%d,"auth":%q}`, id, name, args, ts, wire.Sign(k, target, id, name, ts, []byte(args)))
}

// Issue 7, finding 2: 260 unsigned pings pushed a signed command's id out
// of a 256-id memory, and the captured command then ran again within
// max_skew. A signed id is now kept until its ts leaves the window,
// whatever else arrives, and the replay is answered, not executed.
func TestCapturedSignedCommandIsNotReplayed(t *testing.T) {
	p, k := signedPole(t, "", nil)
	on := signedCmd(k, "dev/pole-test", "s-on", "zones", `{"on":["z1"]}`, t0.UnixMilli())
	if ack, _ := p.send(t, on); !ack.OK {
		t.Fatal(ack.raw)
	}
	off := signedCmd(k, "dev/pole-test", "s-off", "zones", `{"off":["z1"]}`, t0.UnixMilli())
	if ack, _ := p.send(t, off); !ack.OK {
		t.Fatal(ack.raw)
	}
	for i := range 3000 {
		p.send(t, cmd(fmt.Sprintf("p%d", i), "ping", ""))
	}
	p.clk.Advance(4 * time.Minute) // still within max_skew (5 min)
	ack, _ := p.send(t, on)
	if !ack.OK || ack.ID != "s-on" {
		t.Fatalf("replay answered %s, want the first ack again", ack.raw)
	}
	if p.level(t, "GPIO17") {
		t.Fatal("the replayed signed command switched z1 on again")
	}
	// Past the window the replay is refused as stale, not executed.
	p.clk.Advance(2 * time.Minute)
	if ack, _ := p.send(t, on); ack.code() != "unauthorized" || p.level(t, "GPIO17") {
		t.Fatalf("replay after max_skew: %s, z1 %v", ack.raw, p.level(t, "GPIO17"))
	}
}

// Issue 7, finding 2: the signature did not cover the target, so a
// command signed for one pole ran on every pole with the same key.
func TestSignedCommandRunsOnlyOnItsTarget(t *testing.T) {
	p, k := signedPole(t, "", nil)
	for _, tc := range []struct {
		name, topic, target, code string
	}{
		{"for another pole", p.topics.Cmd(), "dev/pole-other", "unauthorized"},
		{"for the pole, sent to a group", p.topics.GroupCmd("all"), "dev/pole-test", "unauthorized"},
		{"for a group, sent to the pole", p.topics.Cmd(), "grp/all", "unauthorized"},
		{"for the group all, on all", p.topics.GroupCmd("all"), "grp/all", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := strings.ReplaceAll(tc.name, " ", "-")
			p.published()
			p.handle(Inbound{Topic: tc.topic, Payload: []byte(signedCmd(k, tc.target, id, "zones", `{"on":["z2"]}`, t0.UnixMilli()))})
			var ack *ackDoc
			for _, m := range p.published() {
				if m.Topic == p.topics.Ack() {
					ack = &ackDoc{raw: string(m.Payload)}
					json.Unmarshal(m.Payload, ack)
				}
			}
			if ack.code() != tc.code {
				t.Fatalf("ack %s, want code %q", ack.raw, tc.code)
			}
			if on := p.level(t, "GPIO27"); on != (tc.code == "") {
				t.Errorf("z2 on = %v", on)
			}
		})
	}
}

// The v1 form is refused unless auth.legacy_signatures allows it.
func TestLegacySignatures(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		p, k := signedPole(t, "", func(c *config.Config) { c.Auth.LegacySignatures = legacy })
		ts := t0.UnixMilli()
		v1 := fmt.Sprintf(`{"id":"l1","cmd":"zones","args":{"on":["z1"]},"ts":%d,"auth":%q}`, ts, wire.Signature(k, "l1", "zones", ts, []byte(`{"on":["z1"]}`)))
		ack, _ := p.send(t, v1)
		if ack.OK != legacy {
			t.Errorf("legacy_signatures=%v: %s", legacy, ack.raw)
		}
		if !legacy && !strings.Contains(ack.raw, "v1 form") {
			t.Errorf("the refusal does not say why: %s", ack.raw)
		}
	}
}

func TestRestartAndReboot(t *testing.T) {
	p := newPole(t, "", nil)
	ack, _ := p.send(t, cmd("r1", "reboot", ""))
	p.bg.Wait() // the reboot runs off the Run goroutine
	if !ack.OK || p.sim.Reboots() != 1 {
		t.Fatalf("reboot: ack %s, reboots %d", ack.raw, p.sim.Reboots())
	}
	ack, _ = p.send(t, cmd("r2", "restart", ""))
	if !ack.OK || !p.restart {
		t.Fatalf("restart: ack %s", ack.raw)
	}
}

func TestInputsRaiseAlarms(t *testing.T) {
	p := newPole(t, "", nil)
	p.published()
	if err := p.sim.SetInput("tamper", true); err != nil {
		t.Fatal(err)
	}
	p.readInputs(false)
	if _, ok := p.alarms["tamper"]; ok {
		t.Fatal("a single read raised the alarm: no debounce")
	}
	p.readInputs(false)
	st := lastState(t, p, p.published())
	if len(st.Alarms) != 1 || st.Alarms[0].Name != "tamper" || !st.Inputs["tamper"] {
		t.Fatalf("state after door opened: alarms %v inputs %v", st.Alarms, st.Inputs)
	}
	p.sim.SetInput("mains", false)
	p.sim.SetInput("tamper", false)
	p.readInputs(false)
	p.readInputs(false)
	st = lastState(t, p, p.published())
	if len(st.Alarms) != 1 || st.Alarms[0].Name != "mains_lost" {
		t.Fatalf("alarms after door closed and mains lost: %v", st.Alarms)
	}
}

func TestTelemetry(t *testing.T) {
	p := newPole(t, "", nil)
	p.clk.Advance(90 * time.Second)
	tele := p.telemetry()
	b, _ := json.Marshal(tele)
	if tele.UptimeS != 90 || tele.CPUTempC == nil || *tele.CPUTempC != 45 || tele.MemRSSBytes == nil || *tele.MemRSSBytes == 0 ||
		tele.DiskFreeBytes == nil || tele.Load1 == nil {
		t.Fatalf("telemetry = %s", b)
	}
	for _, key := range []string{`"modem":{"rat":null`, `"gnss":{`, `"audio":{"level_dbfs":null`, `"mqtt":{"reconnects":0`, `"inputs":{"mains":true,"tamper":false}`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("telemetry lacks %s: %s", key, b)
		}
	}
}

func TestDegradedPoleRefusesZonesItCannotSwitch(t *testing.T) {
	p := newPole(t, "", nil)
	p.hw.Zones = map[string][]hal.Output{}
	p.opts.Missing = map[string]string{"gpio": "GPIO17: not present on this board"}
	ack, _ := p.send(t, cmd("d1", "zones", `{"on":["z1"]}`))
	if ack.code() != "unsupported" || !strings.Contains(ack.Error.Message, "GPIO17: not present") || p.zones["z1"] {
		t.Fatalf("ack %s, z1 %v", ack.raw, p.zones["z1"])
	}
	if ack, _ := p.send(t, cmd("d2", "ping", "")); !ack.OK {
		t.Fatalf("a degraded pole must still answer: %s", ack.raw)
	}
}

// A broker URL with credentials in it is logged without them, by the link
// that fails to reach it.
func TestBrokerCredentialsAreNotLogged(t *testing.T) {
	var logs testenv.Buffer
	cfg := config.Default()
	cfg.ID = "pole-creds"
	cfg.DataDir = t.TempDir()
	cfg.MQTT.Broker = "tcp://pole:s3cret@127.0.0.1:1"
	l := NewLink(LinkConfigFrom(cfg, "test"), clock.Real{}, slog.New(slog.NewTextHandler(&logs, nil)), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Run(ctx)
	}()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), "mqtt link down") && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	out := logs.String()
	if !strings.Contains(out, "mqtt link down") || !strings.Contains(out, "127.0.0.1:1") {
		t.Fatalf("the failed connection was not logged with its broker:\n%s", out)
	}
	if strings.Contains(out, "s3cret") {
		t.Fatalf("the broker password reached the log:\n%s", out)
	}
}
