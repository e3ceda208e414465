package agent

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/loaxa/loaxa/agent/ladder"

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
	t.Cleanup(func() { hw.Close() })
	pl, _ := player.New(player.Options{Sink: nullSink{}, Clock: clk})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := New(Options{Config: cfg, ConfigPath: filepath.Join(dir, "loaxa.toml"), Hardware: hw.HAL(), Clock: clk, Log: log, Version: "test", Player: pl, OpenSource: toneOpener})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
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
	if st := p.seq.State(); st != ladder.Warming {
		t.Fatalf("state %v after an emergency during the warm-up, want warming", st)
	}
	for _, tr := range p.sim.Transitions() {
		if strings.HasPrefix(tr.Output, "zone") {
			t.Errorf("zone relay moved %v after the amplifier came on, inside its warm-up", tr.Time.Sub(t0))
		}
	}
	for p.seq.State() != ladder.Playing {
		clk.Advance(10 * time.Millisecond)
		select {
		case <-p.seqC:
			p.seqFired()
		default:
		}
	}
	if since := clk.Now().Sub(t0); since < time.Duration(p.cfg.Audio.AmpWarmupMS)*time.Millisecond {
		t.Errorf("the emergency started %v after amplifier power-on, inside its %d ms warm-up", since, p.cfg.Audio.AmpWarmupMS)
	}
	if q := p.queue.Items(); len(q) != 1 || q[0].ID != "n1" || q[0].Resumes != 0 {
		t.Fatalf("n1 should wait untouched (it keeps its chime): %+v", q)
	}
}

func toPlaying(t *testing.T, p *testPole, clk *clock.Fake) {
	for p.seq.State() != ladder.Playing {
		clk.Advance(time.Second)
		<-p.seqC
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
	if p.seq.Item() != nil || p.queue.Len() != 0 {
		t.Errorf("after stop {}, %v plays and %d wait", p.seq.Item(), p.queue.Len())
	}
}

func TestLadderPlayRightAfterStopIsAccepted(t *testing.T) {
	p, clk := handPole(t)
	p.send(t, playCmd("n1", `{"source":"file:440"}`))
	toPlaying(t, p, clk)
	p.send(t, cmd("s1", "stop", `{}`))
	// n1 fades out for good: the newcomer, whatever its level, waits only
	// for the fade, and is next.
	ack, _ := p.send(t, playCmd("b1", `{"source":"file:220","priority":"background"}`))
	if !ack.OK || !strings.Contains(ack.raw, `"status":"playing"`) {
		t.Fatalf("a play right after stop {}: %s, want it accepted as next", ack.raw)
	}
	p.playerEvent(player.Event{Kind: player.Stopped, ID: "n1", Played: 48000})
	if it := p.seq.Item(); it == nil || it.ID != "b1" {
		t.Errorf("after n1's fade, %v is on air, want b1", it)
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
	// Once the device has played out n1's tail, the relays do move: z1
	// off, z3 on, then m1 plays.
	for p.seq.State() != ladder.Playing {
		clk.Advance(time.Millisecond)
		select {
		case <-p.seqC:
			p.seqFired()
		default:
		}
		if clk.Now().Sub(tEnd) > time.Second {
			t.Fatalf("m1 never started; state %v", p.seq.State())
		}
	}
	var moved []string
	for _, tr := range p.sim.Transitions()[n:] {
		if strings.HasPrefix(tr.Output, "zone") {
			moved = append(moved, fmt.Sprintf("%s=%v", tr.Output, tr.On))
			if d := tr.Time.Sub(tEnd); d < p.outputLatency() {
				t.Errorf("%s moved %v after the end, within the output latency", tr.Output, d)
			}
		}
	}
	if got := strings.Join(moved, " "); got != "zone z1=false zone z3=true" {
		t.Errorf("relays moved %q, want z1 off then z3 on", got)
	}
}

func TestLadderAgentStopCountsWhatWasHeard(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
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
	})
}
