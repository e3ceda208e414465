package agent

import (
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loaxa/loaxa/agent/config"
	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/audio/player"
	"github.com/loaxa/loaxa/internal/clock"
	"github.com/loaxa/loaxa/sim"
)

type nullSink struct{}

func (nullSink) String() string        { return "null" }
func (nullSink) Format() audio.Format  { return outFormat }
func (nullSink) Close() error          { return nil }
func (nullSink) Write(p []int16) error { return nil }

// handPole: agent with a player that is never run (requests buffer), driven by hand.
func handPole(t *testing.T) (*testPole, *clock.Fake) {
	dir := t.TempDir()
	cfg := config.Default()
	cfg.ID = "pole-review"
	cfg.DataDir = dir
	cfg.Audio.Chime = []string{"priority", "emergency"}
	clk := clock.NewFake(t0)
	hw, err := sim.NewHardware(filepath.Join(dir, "sim"), cfg.Hardware.Layout, clk)
	if err != nil {
		t.Fatal(err)
	}
	pl, _ := player.New(player.Options{Sink: nullSink{}, Clock: clk})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := New(Options{Config: cfg, ConfigPath: filepath.Join(dir, "loaxa.toml"), Hardware: hw.HAL(), Clock: clk, Log: log, Version: "test", Player: pl, OpenSource: toneOpener})
	if err != nil {
		t.Fatal(err)
	}
	return &testPole{Agent: a, sim: hw, clk: clk, dir: dir, cfg: cfg}, clk
}

func events(p *testPole, msgs []Message) []string {
	var out []string
	for _, m := range msgs {
		if m.Topic == p.topics.Event() {
			var ev struct {
				Type string
				Data map[string]any
			}
			json.Unmarshal(m.Payload, &ev)
			out = append(out, ev.Type+":"+ev.Data["item"].(string))
		}
	}
	return out
}

func TestLadderPreemptionDuringWarmUpWaitsForTheAmplifier(t *testing.T) {
	p, clk := handPole(t)
	p.send(t, playCmd("n1", `{"source":"file:440","priority":"priority","zones":["z1"]}`))
	clk.Advance(10 * time.Millisecond)
	_, other := p.send(t, playCmd("e1", `{"source":"tone:1000","priority":"emergency"}`))
	for _, ev := range events(p, other) {
		if strings.HasPrefix(ev, "play.interrupted") {
			t.Errorf("an item never heard was reported interrupted: %v", events(p, other))
		}
	}
	if p.lad.phase != phaseWarming {
		t.Fatalf("phase %d after an emergency during the warm-up, want warming", p.lad.phase)
	}
	for _, tr := range p.sim.Transitions() {
		if strings.HasPrefix(tr.Output, "zone") {
			t.Errorf("zone relay moved %v after the amplifier came on, inside its warm-up", tr.Time.Sub(t0))
		}
	}
	for p.lad.phase != phasePlaying {
		clk.Advance(10 * time.Millisecond)
		select {
		case <-p.lad.seqC:
			p.seqFired()
		default:
		}
	}
	if since := clk.Now().Sub(t0); since < time.Duration(p.cfg.Audio.AmpWarmupMS)*time.Millisecond {
		t.Errorf("the emergency started %v after amplifier power-on, inside its %d ms warm-up", since, p.cfg.Audio.AmpWarmupMS)
	}
	if len(p.lad.queue) != 1 || p.lad.queue[0].Resumes != 0 {
		t.Fatalf("n1 should wait untouched (it keeps its chime): %+v", p.lad.queue)
	}
}

func toPlaying(t *testing.T, p *testPole, clk *clock.Fake) {
	for p.lad.phase != phasePlaying {
		clk.Advance(time.Second)
		<-p.lad.seqC
		p.seqFired()
	}
}

func TestLadderStopDuringAnInterruptionFadeStopsForGood(t *testing.T) {
	p, clk := handPole(t)
	p.send(t, playCmd("n1", `{"source":"file:440"}`))
	toPlaying(t, p, clk)
	p.send(t, playCmd("e1", `{"source":"tone:1000","priority":"emergency"}`))
	ack, _ := p.send(t, cmd("s1", "stop", `{}`))
	if !strings.Contains(ack.raw, `"n1"`) {
		t.Errorf("stop {} during the fade does not name the fading item: %s", ack.raw)
	}
	p.playerEvent(player.Event{Kind: player.Stopped, ID: "n1", Played: 48000})
	if p.lad.cur != nil || len(p.lad.queue) != 0 {
		t.Errorf("after stop {}, %v plays and %d wait", p.lad.cur, len(p.lad.queue))
	}
}

func TestLadderPlayRightAfterStopIsAccepted(t *testing.T) {
	p, clk := handPole(t)
	p.send(t, playCmd("n1", `{"source":"file:440"}`))
	toPlaying(t, p, clk)
	p.send(t, cmd("s1", "stop", `{}`))
	ack, _ := p.send(t, playCmd("b1", `{"source":"file:220","priority":"background"}`))
	if strings.Contains(ack.raw, "busy") {
		t.Errorf("a play right after stop {} was refused: %s", ack.raw)
	}
}

func TestLadderRelaysWaitForTheDeviceToPlayOut(t *testing.T) {
	p, clk := handPole(t)
	p.send(t, playCmd("n1", `{"source":"file:440","zones":["z1"]}`))
	toPlaying(t, p, clk)
	n := len(p.sim.Transitions())
	p.playerEvent(player.Event{Kind: player.Ended, ID: "n1", Played: 96000})
	tEnd := clk.Now()
	p.send(t, playCmd("m1", `{"source":"file:330","zones":["z3"]}`))
	for _, tr := range p.sim.Transitions()[n:] {
		if tr.Time.Sub(tEnd) < p.outputLatency() && strings.HasPrefix(tr.Output, "zone") {
			t.Errorf("relay %s moved %v after the item ended, before the device played it out", tr.Output, tr.Time.Sub(tEnd))
		}
	}
}

func TestLadderAgentStopCountsWhatWasHeard(t *testing.T) {
	p := runPole(t, nil)
	p.do(t, playCmd("a", `{"source":"tone:500","duration_s":30}`))
	p.waitEvent(t, "play.start", "a")
	time.Sleep(700 * time.Millisecond)
	p.cancel()
	<-p.done
	p.done <- nil
	end := p.waitEvent(t, "play.end", "a")
	if s, _ := end["played_s"].(float64); s < 0.3 {
		t.Errorf("played_s %v after about 0.7 s heard", end["played_s"])
	}
}
