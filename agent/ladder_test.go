package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/loaxa/loaxa/agent/config"
	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/audio/dsp"
	"github.com/loaxa/loaxa/audio/player"
	"github.com/loaxa/loaxa/internal/audiotest"
	"github.com/loaxa/loaxa/sim"
)

var outFormat = audio.Format{Rate: 48000, Channels: 2}

// pacedSink plays in real time, like a device, and records every block
// with the count of samples before it, so a test can line up the audio
// with relay transitions.
type pacedSink struct {
	mu      sync.Mutex
	samples []int16
	marks   []sinkMark
	next    time.Time
}

type sinkMark struct {
	at  time.Time
	pos int
}

func (s *pacedSink) String() string       { return "paced test sink" }
func (s *pacedSink) Format() audio.Format { return outFormat }
func (s *pacedSink) Close() error         { return nil }
func (s *pacedSink) Write(p []int16) error {
	now := time.Now()
	s.mu.Lock()
	if s.next.Before(now) {
		s.next = now
	}
	s.marks = append(s.marks, sinkMark{now, len(s.samples)})
	s.samples = append(s.samples, p...)
	s.next = s.next.Add(time.Duration(len(p)/outFormat.Channels) * time.Second / time.Duration(outFormat.Rate))
	wait := s.next.Sub(now)
	s.mu.Unlock()
	time.Sleep(wait)
	return nil
}

func (s *pacedSink) snapshot() ([]int16, []sinkMark) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int16(nil), s.samples...), append([]sinkMark(nil), s.marks...)
}

// posAt is the position of the sample being heard at time t: a block
// plays from its mark for its own duration.
func (s *pacedSink) posAt(t time.Time) int {
	samples, marks := s.snapshot()
	pos := 0
	for i, m := range marks {
		if m.at.After(t) {
			break
		}
		end := len(samples)
		if i+1 < len(marks) {
			end = marks[i+1].pos
		}
		played := int(t.Sub(m.at).Seconds()*float64(outFormat.Rate)) * outFormat.Channels
		pos = min(m.pos+played, end)
	}
	return pos
}

// toneOpener serves tone:HZ sources as sines and file:NAME sources as
// one-second sines whose frequency is the number in NAME (file:440), so a
// test can tell items apart by ear (Goertzel).
func toneOpener(ctx context.Context, req SourceRequest) (audio.Source, error) {
	spec := strings.TrimPrefix(strings.TrimPrefix(req.Source, "tone:"), "file:")
	hz, err := strconv.ParseFloat(strings.TrimSuffix(spec, ".mp3"), 64)
	if err != nil {
		return nil, fmt.Errorf("test opener: %q: %w", req.Source, err)
	}
	n := 0
	if strings.HasPrefix(req.Source, "file:") {
		n = outFormat.Rate * outFormat.Channels * 2
	}
	return &testTone{hz: hz, f: req.Format, n: n}, nil
}

type testTone struct {
	hz  float64
	f   audio.Format
	pos int
	n   int // 0: endless
}

func (t *testTone) Format() audio.Format { return t.f }
func (t *testTone) Close() error         { return nil }
func (t *testTone) Read(p []int16) (int, error) {
	k := 0
	for ; k+t.f.Channels <= len(p); k += t.f.Channels {
		if t.n > 0 && t.pos >= t.n {
			return k, io.EOF
		}
		v := int16(0.5 * 32767 * math.Sin(2*math.Pi*t.hz*float64(t.pos/t.f.Channels)/float64(t.f.Rate)))
		for c := range t.f.Channels {
			p[k+c] = v
		}
		t.pos += t.f.Channels
	}
	return k, nil
}

type runningPole struct {
	*testPole
	backlog []Message // published, not yet looked at by a wait
	history []Message // everything published, in order
	sink    *pacedSink
	cancel  context.CancelFunc
	done    chan error
}

// runPole runs an agent with a player on a paced sink and short sequence
// delays, on the real clock; commands go in through the link's inbound
// channel, so the Run goroutine handles them as it does in production.
func runPole(t *testing.T, edit func(*config.Config)) *runningPole {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.ID = "pole-audio"
	cfg.DataDir = dir
	cfg.MQTT.Broker = "tcp://127.0.0.1:1" // never answers: the outbox keeps everything
	cfg.Audio.AmpWarmupMS = 40
	cfg.Audio.RelaySettleMS = 20
	cfg.Audio.FadeMS = 20
	cfg.Audio.AmpHoldS = 1
	cfg.Audio.Chime = nil
	if edit != nil {
		edit(cfg)
	}
	hw, err := sim.NewHardware("", cfg.Hardware.Layout, nil)
	if err != nil {
		t.Fatal(err)
	}
	sink := &pacedSink{}
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	pl, err := player.New(player.Options{Sink: sink, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{Config: cfg, ConfigPath: filepath.Join(dir, "loaxa.toml"), Hardware: hw.HAL(), Log: log, Version: "test",
		Player: pl, OpenSource: toneOpener})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &runningPole{testPole: &testPole{Agent: a, sim: hw, dir: dir, cfg: cfg}, sink: sink, cancel: cancel, done: make(chan error, 1)}
	go func() { p.done <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-p.done })
	return p
}

// do sends a command through the Run goroutine and returns its ack.
func (p *runningPole) do(t *testing.T, payload string) *ackDoc {
	t.Helper()
	var id struct{ ID string }
	json.Unmarshal([]byte(payload), &id)
	p.link.inbound <- Inbound{Topic: p.topics.Cmd(), Payload: []byte(payload)}
	var ack *ackDoc
	p.waitMsg(t, "ack "+id.ID, func(m Message) bool {
		if m.Topic != p.topics.Ack() || !strings.Contains(string(m.Payload), fmt.Sprintf(`"id":%q`, id.ID)) {
			return false
		}
		ack = &ackDoc{raw: string(m.Payload)}
		json.Unmarshal(m.Payload, ack)
		return true
	})
	return ack
}

// waitMsg waits until the agent publishes a message matching ok.
func (p *runningPole) waitMsg(t *testing.T, what string, ok func(Message) bool) Message {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		fresh := p.published()
		p.history = append(p.history, fresh...)
		p.backlog = append(p.backlog, fresh...)
		for i, m := range p.backlog {
			if ok(m) {
				p.backlog = p.backlog[i+1:]
				return m
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("never published: %s", what)
	return Message{}
}

func (p *runningPole) waitEvent(t *testing.T, typ, item string) map[string]any {
	t.Helper()
	var data map[string]any
	p.waitMsg(t, typ+" "+item, func(m Message) bool {
		if m.Topic != p.topics.Event() {
			return false
		}
		var ev wire.Event
		json.Unmarshal(m.Payload, &ev)
		if ev.Type == typ && ev.Data["item"] == item {
			data = ev.Data
			return true
		}
		return false
	})
	return data
}

// pastEvent finds an event among everything published so far.
func (p *runningPole) pastEvent(typ, item string) map[string]any {
	for _, m := range p.history {
		var ev wire.Event
		if m.Topic == p.topics.Event() && json.Unmarshal(m.Payload, &ev) == nil && ev.Type == typ && ev.Data["item"] == item {
			return ev.Data
		}
	}
	return nil
}

func playCmd(id, args string) string {
	return fmt.Sprintf(`{"id":%q,"cmd":"play","args":%s}`, id, args)
}

func TestPlaySequencesAmplifierRelaysAndAudio(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := runPole(t, nil)
		ack := p.do(t, playCmd("p1", `{"source":"file:1000","zones":["z1","z2"]}`))
		if !ack.OK || !strings.Contains(ack.raw, `"status":"playing"`) {
			t.Fatalf("ack %s", ack.raw)
		}
		p.waitEvent(t, "play.end", "p1")
		p.waitMsg(t, "amp off after hold", func(m Message) bool {
			return m.Topic == p.topics.State() && strings.Contains(string(m.Payload), `"amp":{"power":false}`) && strings.Contains(string(m.Payload), `"playing":null`)
		})
		tr := p.sim.Transitions()
		var order []string
		for _, x := range tr {
			order = append(order, fmt.Sprintf("%s=%v", x.Output, x.On))
		}
		want := "amp=true zone z1=true zone z2=true zone z1=false zone z2=false amp=false"
		if strings.Join(order, " ") != want {
			t.Fatalf("switching order:\n got %s\nwant %s", strings.Join(order, " "), want)
		}
		// The audio level at each switch: silence, always.
		samples, _ := p.sink.snapshot()
		for _, x := range tr {
			pos := p.sink.posAt(x.Time)
			lo, hi := max(0, pos-96), min(len(samples), pos+96)
			if lvl := dsp.Peak(samples[lo:hi]); lvl > -40 {
				t.Errorf("%s switched to %v with the output at %.1f dBFS", x.Output, x.On, lvl)
			}
		}
		// What was heard: one second of 1 kHz (the file), faded in and out
		// without a click.
		heard := audiotest.TrimSilence(samples, outFormat.Channels)
		if d := float64(len(heard)) / float64(outFormat.Rate*outFormat.Channels); math.Abs(d-2) > 0.05 {
			t.Errorf("heard %.3f s, want 2 s", d)
		}
		if a := dsp.Goertzel(heard[len(heard)/4:len(heard)*3/4], outFormat, 1000); math.Abs(a-dsp.Gain(60)*0.5) > 0.01 {
			t.Errorf("1 kHz at %.4f, want %.4f (volume 60)", a, dsp.Gain(60)*0.5)
		}
		bound := int(math.Ceil(2*math.Pi*1000/48000*0.5*32767*dsp.Gain(60))) + 2
		if s := dsp.MaxStep(samples, 2); s > bound {
			t.Errorf("a click: sample step %d > %d", s, bound)
		}
	})
}

func TestEmergencyPreemptsAndNormalResumes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := runPole(t, nil)
		p.do(t, playCmd("n1", `{"source":"tone:440","duration_s":60,"priority":"normal"}`))
		p.waitMsg(t, "n1 audible", func(m Message) bool {
			return m.Topic == p.topics.State() && strings.Contains(string(m.Payload), `"item":"n1"`) && !strings.Contains(string(m.Payload), `"since":0`)
		})
		time.Sleep(300 * time.Millisecond) // let some of n1 be heard
		sent := time.Now()
		ack := p.do(t, playCmd("e1", `{"source":"tone:1000","duration_s":0.5,"priority":"emergency","volume":10}`))
		if !strings.Contains(ack.raw, `"status":"playing"`) {
			t.Fatalf("emergency ack %s", ack.raw)
		}
		p.waitEvent(t, "play.interrupted", "n1")
		p.waitEvent(t, "play.end", "e1")
		start := p.waitEvent(t, "play.start", "n1") // the resume
		if start["resumed"] != true {
			t.Errorf("n1 restarted from the beginning: %v", start)
		}
		time.Sleep(200 * time.Millisecond)
		samples, _ := p.sink.snapshot()
		// Audio time from the command to the first emergency sample: count the
		// samples written after the command until the 1 kHz tone appears.
		from := p.sink.posAt(sent)
		block := 960
		first := -1
		for i := from; i+block <= len(samples); i += block {
			if dsp.Goertzel(samples[i:i+block], outFormat, 1000) > 0.05 {
				first = i
				break
			}
		}
		if first < 0 {
			t.Fatal("emergency tone never heard")
		}
		if ms := float64(first-from) / float64(outFormat.Rate*outFormat.Channels) * 1000; ms > 150 {
			t.Errorf("emergency audible %.0f ms of audio after its command, want at most 150", ms)
		}
		// An emergency plays at no less than emergency_min_volume (80), even
		// when asked for 10.
		mid := first + outFormat.Rate*outFormat.Channels/4
		if a := dsp.Goertzel(samples[mid:mid+9600], outFormat, 1000); math.Abs(a-0.5*dsp.Gain(80)) > 0.02 {
			t.Errorf("emergency at amplitude %.3f, want %.3f", a, 0.5*dsp.Gain(80))
		}
		// After it, the 440 Hz normal item is heard again.
		tail := samples[len(samples)-9600:]
		if dsp.Goertzel(tail, outFormat, 440) < 0.25*dsp.Gain(60) {
			t.Error("normal item not heard after the emergency")
		}
	})
}

func TestLadderQueuesRefusesAndStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := runPole(t, nil)
		p.do(t, playCmd("a", `{"source":"tone:500","duration_s":30,"priority":"priority"}`))
		tests := []struct {
			id, args, want string
		}{
			{"b", `{"source":"tone:600","priority":"normal"}`, `"code":"busy"`},
			{"c", fmt.Sprintf(`{"source":"tone:600","priority":"normal","until":%d}`, time.Now().Add(time.Hour).UnixMilli()), `"status":"queued"`},
			{"d", `{"source":"tone:700","priority":"priority"}`, `"position":1,"status":"queued"`},
			{"e", `{"source":"tone:800","priority":"priority","origin":"province"}`, `"status":"playing"`},
			{"f", `{"source":"ftp://x/y.mp3"}`, "unknown source scheme"},
			{"g", `{"source":"tone:700","priority":"urgent"}`, "urgent"},
			{"h", `{"source":"tone:700","zones":["z9"]}`, `unknown zone \"z9\"`},
			{"i", `{"source":"file:../etc/passwd"}`, "invalid media name"},
			{"j", fmt.Sprintf(`{"source":"tone:700","until":%d}`, time.Now().Add(-time.Hour).UnixMilli()), `"code":"expired"`},
		}
		for _, tt := range tests {
			ack := p.do(t, playCmd(tt.id, tt.args))
			if !strings.Contains(ack.raw, tt.want) {
				t.Errorf("play %s: ack %s, want %s", tt.id, ack.raw, tt.want)
			}
		}
		busy := p.do(t, playCmd("k", `{"source":"tone:600","priority":"background"}`))
		if !strings.Contains(busy.raw, `"playing":{"item":"e"`) {
			t.Errorf("busy does not name what plays: %s", busy.raw)
		}
		st := p.do(t, `{"id":"s1","cmd":"status"}`)
		var doc struct {
			Result wire.State `json:"result"`
		}
		json.Unmarshal([]byte(st.raw), &doc)
		var q []string
		for _, it := range doc.Result.Queue {
			q = append(q, it.Item)
		}
		// e (province) took over from a; a waits before d (same level, earlier);
		// c waits for its window.
		if got := strings.Join(q, ","); got != "a,d,c" {
			t.Errorf("queue %s, want a,d,c", got)
		}
		// Every priority item goes, on air or waiting, and nothing else.
		ack := p.do(t, `{"id":"s2","cmd":"stop","args":{"priority":"priority"}}`)
		var res struct{ Stopped []string }
		json.Unmarshal(ack.Result, &res)
		if slices.Sort(res.Stopped); !ack.OK || strings.Join(res.Stopped, ",") != "a,d,e" {
			t.Errorf("stop priority: %s, want a, d and e stopped", ack.raw)
		}
		p.waitEvent(t, "play.start", "c")
		if ack := p.do(t, `{"id":"s3","cmd":"stop","args":{}}`); !strings.Contains(ack.raw, `"stopped":["c"]`) {
			t.Errorf("stop all: %s", ack.raw)
		}
		p.waitMsg(t, "idle", func(m Message) bool {
			return m.Topic == p.topics.State() && strings.Contains(string(m.Payload), `"playing":null,"queue":[]`)
		})
	})
}

func TestZonesChangeMidItemSwitchesAtSilence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := runPole(t, nil)
		p.do(t, playCmd("m", `{"source":"tone:440","duration_s":30,"zones":["z1"]}`))
		p.waitEvent(t, "play.start", "m")
		time.Sleep(200 * time.Millisecond)
		if ack := p.do(t, `{"id":"z","cmd":"zones","args":{"on":["z3"]}}`); !ack.OK {
			t.Fatal(ack.raw)
		}
		p.waitMsg(t, "z3 on", func(m Message) bool {
			return m.Topic == p.topics.State() && strings.Contains(string(m.Payload), `"z3":true`)
		})
		// The item fades back in after the switch.
		var samples []int16
		back := false
		for deadline := time.Now().Add(10 * time.Second); !back && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			samples, _ = p.sink.snapshot()
			back = dsp.Goertzel(samples[len(samples)-9600:], outFormat, 440) > 0.25*dsp.Gain(60)
		}
		if !back {
			t.Error("the item did not come back after the relay switch")
		}
		for _, x := range p.sim.Transitions() {
			if x.Output != "zone z3" {
				continue
			}
			pos := p.sink.posAt(x.Time)
			if lvl := dsp.Peak(samples[max(0, pos-96):min(len(samples), pos+96)]); lvl > -40 {
				t.Errorf("z3 switched under signal: %.1f dBFS", lvl)
			}
		}
	})
}

func TestReplaceTakesOverAheadOfTheQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := runPole(t, nil)
		p.do(t, playCmd("a", `{"source":"tone:500","duration_s":30}`))
		p.do(t, playCmd("b", `{"source":"tone:600","duration_s":30}`))
		ack := p.do(t, playCmd("c", `{"source":"tone:700","duration_s":30,"replace":true}`))
		if !strings.Contains(ack.raw, `"status":"playing"`) {
			t.Fatalf("replace ack %s", ack.raw)
		}
		p.waitEvent(t, "play.start", "c")
		if end := p.pastEvent("play.end", "a"); end == nil || end["reason"] != "replaced" {
			t.Errorf("a ended %v", end)
		}
		st := p.do(t, `{"id":"s","cmd":"status"}`)
		if !strings.Contains(st.raw, `"playing":{"item":"c"`) || !strings.Contains(st.raw, `"queue":[{"item":"b"`) {
			t.Errorf("after replace: %s", st.raw)
		}
	})
}

func TestStoppingTheAgentClosesEveryItem(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := runPole(t, nil)
		p.do(t, playCmd("a", `{"source":"tone:500","duration_s":30}`))
		p.do(t, playCmd("b", `{"source":"tone:600","duration_s":30}`))
		p.cancel()
		<-p.done
		p.done <- nil
		for _, id := range []string{"a", "b"} {
			if end := p.waitEvent(t, "play.end", id); end["reason"] != "agent_stopped" {
				t.Errorf("%s: %v", id, end)
			}
		}
	})
}
