package main

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/audio/dsp"
	"github.com/loaxa/loaxa/internal/mqtttest"
	"github.com/loaxa/loaxa/sim"
)

// TestE2ELiveInStepOnTwoPoles runs three real poles of one group; two
// have synchronised clocks (the simulated default), the third's clock is
// unsynchronised. `loaxactl live --play GROUP --sync` sends the play and
// talks at once: a tone burst every half second. The two synchronised
// poles must sound each burst within 5 ms of each other (their speaker.wav
// onsets mapped to wall-clock time by the timing records); the third
// plays without synchronisation and says so in an event and its state.
func TestE2ELiveInStepOnTwoPoles(t *testing.T) {
	b := mqtttest.Start(t)
	conf := "groups = [\"xa-sync\"]\n"
	events := b.Subscribe(t, "loaxa/v1/dev/+/event")
	states := b.Subscribe(t, "loaxa/v1/dev/pole-c/state")
	poles := []*realPole{
		startRealPole(t, b, "pole-a", conf, ""),
		startRealPole(t, b, "pole-b", conf, ""),
		startRealPole(t, b, "pole-c", conf, "unsynced"),
	}
	for _, p := range poles {
		waitOnline(t, b, p.id)
	}
	pcm := burstTalk(4*time.Second, 500*time.Millisecond, 100*time.Millisecond, 1000, 0, 0)
	runTalk(t, context.Background(), b, pcm, "live", "--format", "s16le", "--play", "xa-sync", "--sync", "town-hall", "-")

	var fallback wire.Event
	for range poles {
		m := waitEvent(t, events, "", "live.sync")
		var ev wire.Event
		if err := json.Unmarshal(m.Payload, &ev); err != nil {
			t.Fatal(err)
		}
		inStep := ev.Data["sync"] == true
		if strings.Contains(m.Topic, "pole-c") {
			fallback = ev
			if inStep {
				t.Errorf("pole-c, clock unsynchronised, plays in step: %s", m.Payload)
			}
		} else if !inStep {
			t.Errorf("%s does not play in step: %s", m.Topic, m.Payload)
		}
	}
	if fallback.Data["reason"] != "clock_unsynced" {
		t.Errorf("pole-c's fallback event: %+v, want reason clock_unsynced", fallback.Data)
	}
	sawState := false
	for !sawState {
		m := mqtttest.Next(t, states)
		sawState = strings.Contains(string(m.Payload), `"sync":{"on":false,"reason":"clock_unsynced"}`)
	}
	for ended := map[string]bool{}; len(ended) < len(poles); {
		m := waitEvent(t, events, "", "play.end")
		ended[m.Topic] = true
	}
	for _, p := range poles {
		p.stop(t)
	}
	var heard [2][]time.Time
	var gaps [2][]time.Time
	for i, p := range poles[:2] {
		pcm, f, recs := p.speaker(t)
		heard[i] = heardAt(t, onsets(pcm, f), f, recs)
		gaps[i] = gapTimes(recs, f.Rate)
	}
	if len(heard[0]) != 8 || len(heard[1]) != 8 {
		t.Fatalf("heard %d and %d bursts, want 8 each", len(heard[0]), len(heard[1]))
	}
	// The first second may still be caught up (the poles' start sequence
	// takes longer than the sync delay): compare from then on. A burst
	// that follows a moment when a pole's output ran dry (its player was
	// late: a loaded machine) is left out: that pole is catching up.
	compared := 0
	for i := 2; i < 8; i++ {
		if stalledBefore(gaps[0], heard[0][i]) || stalledBefore(gaps[1], heard[1][i]) {
			t.Logf("burst %d: an output ran dry just before it; not compared", i)
			continue
		}
		compared++
		d := heard[0][i].Sub(heard[1][i])
		t.Logf("burst %d: pole-a − pole-b = %v", i, d)
		if d.Abs() > 5*time.Millisecond {
			t.Errorf("burst %d sounded %v apart on the two poles, want at most 5 ms", i, d)
		}
	}
	if compared < 3 {
		t.Fatalf("only %d bursts were played without an output running dry: the machine is too loaded to tell", compared)
	}
}

// TestE2ELiveFirstWordsAfterTheAck talks right after the play is
// acknowledged, while the pole's amplifier is still warming up: the first
// 300 ms (a tone of their own) must be heard, and the talk, played late at
// first, must catch up on its pauses (a loose bound: this is no benchmark).
func TestE2ELiveFirstWordsAfterTheAck(t *testing.T) {
	b := mqtttest.Start(t)
	events := b.Subscribe(t, "loaxa/v1/dev/pole-first/event")
	p := startRealPole(t, b, "pole-first", "", "")
	waitOnline(t, b, p.id)
	frames := watchFrames(t, b, "loaxa/v1/live/hall")
	pcm := burstTalk(4*time.Second, 400*time.Millisecond, 100*time.Millisecond, 600, 300*time.Millisecond, 1000)
	runTalk(t, context.Background(), b, pcm, "live", "--format", "s16le", "--play", "dev/pole-first", "hall", "-")
	end := waitEvent(t, events, p.id, "play.end")
	t.Logf("%s", end.Payload)
	// played_s is the talk heard: not the silence before it, nor the
	// pauses left out to catch up.
	var ev struct {
		Data struct {
			PlayedS float64 `json:"played_s"`
			Live    struct {
				Trimmed float64 `json:"trimmed"`
			} `json:"live"`
		} `json:"data"`
	}
	if err := json.Unmarshal(end.Payload, &ev); err != nil {
		t.Fatal(err)
	}
	if want := 4 - 0.02*ev.Data.Live.Trimmed; math.Abs(ev.Data.PlayedS-want) > 0.05 {
		t.Errorf("played_s %.2f, want %.2f (4 s talk, %v pauses of 20 ms left out)", ev.Data.PlayedS, want, ev.Data.Live.Trimmed)
	}
	p.stop(t)
	out, f, recs := p.speaker(t)

	block := f.Rate / 100 * f.Channels // 10 ms
	lead := 0
	for i := 0; i+block <= len(out); i += block {
		// At the default volume (60) the talk's 0.5 sine plays at 0.031.
		if dsp.Goertzel(out[i:i+block], f, 1000) > 0.01 && dsp.Goertzel(out[i:i+block], f, 600) < 0.01 {
			lead++
		}
	}
	if ms := lead * 10; ms < 280 {
		t.Errorf("heard %d ms of the talk's first 300 ms, want all of it", ms)
	}
	on := onsets(out, f)
	at := heardAt(t, on, f, recs)
	if len(at) < 2 {
		t.Fatalf("heard %d onsets", len(at))
	}
	// The last burst started at input sample lead + k·period.
	k := int64((4*time.Second - 300*time.Millisecond) / (400 * time.Millisecond))
	if (4*time.Second-300*time.Millisecond)%(400*time.Millisecond) == 0 {
		k--
	}
	capt, ok := frames.captured(int64(0.3*48000) + k*int64(0.4*48000))
	if !ok {
		t.Fatal("the last burst's frame was not seen")
	}
	lat := at[len(at)-1].Sub(capt)
	t.Logf("last burst: capture to speaker %v", lat)
	if lat < 0 || lat > 200*time.Millisecond+time.Second {
		t.Errorf("last burst heard %v after its capture: the backlog was not caught up (want well under target + 1 s)", lat)
	}
}

// gapTimes are the moments a simulated speaker resumed after running dry
// (a block that started more than 1 ms after the previous one ended).
func gapTimes(recs []sim.SpeakerTiming, rate int) []time.Time {
	var out []time.Time
	for i := 1; i < len(recs); i++ {
		prev := recs[i-1]
		end := prev.UnixNS + prev.Frames*int64(time.Second)/int64(rate)
		if recs[i].UnixNS-end > int64(time.Millisecond) {
			out = append(out, time.Unix(0, recs[i].UnixNS))
		}
	}
	return out
}

// stalledBefore reports whether an output resumed after running dry in the
// half second before at (a synchronised pole needs that long, at most, to
// be back on its schedule).
func stalledBefore(gaps []time.Time, at time.Time) bool {
	for _, g := range gaps {
		if !g.After(at) && at.Sub(g) < 500*time.Millisecond {
			return true
		}
	}
	return false
}
