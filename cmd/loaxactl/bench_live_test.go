package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/audio/dsp"
	"github.com/loaxa/loaxa/internal/mqtttest"
	"github.com/loaxa/loaxa/sim"
)

// Benchmarks of live audio through the real path an operator gets:
// `loaxactl live` (in this process) → mosquitto (QoS 0, TCP_NODELAY) →
// the loaxad binary on simulated hardware (MQTT link, jitter buffer,
// priority ladder, player, simulated speaker). What a pole played is read
// from its speaker.wav, and when it played from speaker.timing.jsonl; the
// capture time of each input sample from the frames' headers, seen by an
// observer on the live topic. Sender and poles share this machine's clock.

// burstPeriod and burstOn shape the talk: a 1 kHz burst every period, so
// that each onset is one latency sample.
const (
	burstPeriod = 500 * time.Millisecond
	burstOn     = 100 * time.Millisecond
)

// BenchmarkCaptureToSpeaker measures capture to speaker: for every burst of
// a 20 s talk, from the capture time of its first sample to the moment the
// simulated speaker played it, at jitter-buffer targets of 100 and 200 ms,
// on a clean link and with `loaxactl live --loss 5 --jitter 40ms`. The pole
// is playing the channel (play.start seen) before the talk starts, as in
// a live relay. Run it with
//
//	go test -run '^$' -bench CaptureToSpeaker -benchtime 1x ./cmd/loaxactl
func BenchmarkCaptureToSpeaker(b *testing.B) {
	for _, target := range []int{100, 200} {
		for _, link := range []string{"clean", "loss5-jitter40ms"} {
			b.Run(fmt.Sprintf("target=%dms/%s", target, link), func(b *testing.B) {
				var lat []time.Duration
				for range b.N {
					lat = append(lat, captureToSpeaker(b, target, link != "clean")...)
				}
				b.ReportMetric(pctMS(lat, 50), "p50-ms")
				b.ReportMetric(pctMS(lat, 99), "p99-ms")
				b.ReportMetric(float64(len(lat)), "bursts")
				b.ReportMetric(0, "ns/op") // one op is one talk: its duration says nothing
			})
		}
	}
}

func pctMS(d []time.Duration, p int) float64 {
	if len(d) == 0 {
		return math.NaN()
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return float64(s[(len(s)-1)*p/100]) / float64(time.Millisecond)
}

func captureToSpeaker(b *testing.B, target int, impaired bool) []time.Duration {
	b.Helper()
	br := mqtttest.Start(b)
	events := br.Subscribe(b, "loaxa/v1/dev/pole-lat/event")
	p := startRealPole(b, br, "pole-lat", fmt.Sprintf("[audio]\nlive_target_ms = %d\n", target), "")
	waitOnline(b, br, p.id)
	frames := watchFrames(b, br, "loaxa/v1/live/bench")
	send(b, br, p.id, "play", `{"source":"live:bench","priority":"live","chime":false,"volume":100}`)
	waitEvent(b, events, p.id, "play.start")
	pcm := burstTalk(20*time.Second, burstPeriod, burstOn, 1000, 0, 0)
	args := []string{"live", "--format", "s16le"}
	if impaired {
		args = append(args, "--loss", "5", "--jitter", "40ms")
	}
	b.ResetTimer()
	runTalk(b, context.Background(), br, pcm, append(args, "bench", "-")...)
	waitEvent(b, events, p.id, "play.end")
	b.StopTimer()
	p.stop(b)
	return latencies(b, p, frames, 0)
}

// latencies maps each burst the pole played to its capture time: burst
// k of the talk starts at input sample lead + k·period, and a burst heard
// at h is the last one captured before h (latencies stay under a period).
// A burst whose first frame was dropped (--loss) gets its capture time
// from the first frame's, by its place in the talk.
func latencies(b testing.TB, p *realPole, frames *frameLog, lead int64) []time.Duration {
	out, f, recs := p.speaker(b)
	heard := heardAt(b, onsets(out, f), f, recs)
	period := int64(burstPeriod.Seconds() * 48000)
	first, ok := frames.captured(0)
	if !ok {
		b.Fatal("the talk's first frame was not seen")
	}
	var lat []time.Duration
	for _, at := range heard {
		k := int64(at.Sub(first)-time.Duration(lead)*time.Second/48000) / int64(burstPeriod)
		i := lead + k*period
		c, ok := frames.captured(i)
		if !ok {
			c = first.Add(time.Duration(i) * time.Second / 48000)
		}
		lat = append(lat, at.Sub(c))
	}
	return lat
}

// BenchmarkSyncOffset measures synchronised play-out: two poles on this
// machine play one channel in step ("sync": true, sent by `loaxactl live
// --play GROUP --sync`) for a 60 s talk; for every burst, the difference
// between the wall-clock times at which the two simulated speakers played
// its first sample. The first 2 s are left out (the poles' start sequence
// takes longer than the sync delay: they catch up on the pauses).
//
//	go test -run '^$' -bench SyncOffset -benchtime 1x ./cmd/loaxactl
func BenchmarkSyncOffset(b *testing.B) {
	var off []time.Duration
	gaps := 0
	for range b.N {
		br := mqtttest.Start(b)
		events := br.Subscribe(b, "loaxa/v1/dev/+/event")
		conf := "groups = [\"xa-bench\"]\n"
		poles := []*realPole{startRealPole(b, br, "pole-s1", conf, ""), startRealPole(b, br, "pole-s2", conf, "")}
		for _, p := range poles {
			waitOnline(b, br, p.id)
		}
		pcm := burstTalk(60*time.Second, 500*time.Millisecond, burstOn, 1000, 0, 0)
		b.ResetTimer()
		runTalk(b, context.Background(), br, pcm, "live", "--format", "s16le", "--play", "xa-bench", "--sync", "bench", "-")
		for ended := map[string]bool{}; len(ended) < 2; {
			ended[waitEvent(b, events, "", "play.end").Topic] = true
		}
		b.StopTimer()
		var heard [2][]time.Time
		for i, p := range poles {
			p.stop(b)
			out, f, recs := p.speaker(b)
			heard[i] = heardAt(b, onsets(out, f), f, recs)
			gaps += outputGaps(recs, f.Rate)
		}
		if len(heard[0]) != len(heard[1]) {
			b.Fatalf("the poles played %d and %d bursts", len(heard[0]), len(heard[1]))
		}
		for i := 4; i < len(heard[0]); i++ {
			d := heard[0][i].Sub(heard[1][i])
			if d.Abs() > 2*time.Millisecond {
				b.Logf("burst %d: %v apart", i, d)
			}
			off = append(off, d.Abs())
		}
	}
	b.ReportMetric(pctMS(off, 50), "offset-p50-ms")
	b.ReportMetric(pctMS(off, 95), "offset-p95-ms")
	b.ReportMetric(pctMS(off, 100), "offset-max-ms")
	b.ReportMetric(float64(gaps), "output-gaps")
	b.ReportMetric(float64(len(off)), "bursts")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkEmergencyAudible measures, through the real agent, the time
// from publishing an emergency play to its first sample leaving the
// simulated speaker, while a normal item plays (so the emergency preempts
// it: fade-out, then its own fade-in). ladder_test checks the same in
// virtual time (at most 150 ms); this is the wall-clock figure.
//
//	go test -run '^$' -bench EmergencyAudible -benchtime 20x ./cmd/loaxactl
func BenchmarkEmergencyAudible(b *testing.B) {
	br := mqtttest.Start(b)
	events := br.Subscribe(b, "loaxa/v1/dev/pole-em/event")
	p := startRealPole(b, br, "pole-em", "", "")
	waitOnline(b, br, p.id)
	op := mqtttest.Client(b, br, "bench-operator")
	var sent []time.Time
	for i := range b.N {
		send(b, br, p.id, "play", fmt.Sprintf(`{"source":"tone:440","item":"prog%d","volume":100,"chime":false,"duration_s":60}`, i))
		waitEvent(b, events, p.id, "play.start")
		time.Sleep(300 * time.Millisecond) // the programme is heard
		sent = append(sent, time.Now())
		mqtttest.Wait(b, op.Publish("loaxa/v1/dev/pole-em/cmd", 1, false,
			fmt.Sprintf(`{"id":"em%d","cmd":"play","args":{"source":"tone:1000","priority":"emergency","chime":false,"volume":100,"duration_s":0.3}}`, i)), "publish")
		waitEvent(b, events, p.id, "play.interrupted")
		for ended := 0; ended < 1; {
			if m := waitEvent(b, events, p.id, "play.end"); strings.Contains(string(m.Payload), `"em`) {
				ended++
			}
		}
		send(b, br, p.id, "stop", "{}")
		waitEvent(b, events, p.id, "play.end")
	}
	b.StopTimer()
	p.stop(b)
	out, f, recs := p.speaker(b)
	// Where 1 kHz starts after 440 Hz: 5 ms blocks.
	block := f.Rate / 200 * f.Channels
	var lat []time.Duration
	k := 0
	prev := false
	for i := 0; i+block <= len(out) && k < len(sent); i += block {
		em := dsp.Goertzel(out[i:i+block], f, 1000) > 0.1
		if em && !prev {
			at, ok := sim.SoundedAt(recs, int64(i/f.Channels), f.Rate)
			if ok {
				lat = append(lat, at.Sub(sent[k]))
			}
			k++
		}
		prev = em
	}
	b.ReportMetric(pctMS(lat, 50), "p50-ms")
	b.ReportMetric(pctMS(lat, 100), "max-ms")
	b.ReportMetric(0, "ns/op")
}

// waitOnline waits for a pole's online status, then until it answers.
func waitOnline(t testing.TB, br *mqtttest.Broker, id string) {
	t.Helper()
	st := br.Subscribe(t, "loaxa/v1/dev/"+id+"/status")
	for m := mqtttest.Next(t, st); !strings.Contains(string(m.Payload), `"online":true`); m = mqtttest.Next(t, st) {
	}
	send(t, br, id, "ping", "")
}

// send runs `loaxactl send ID CMD [ARGS]` in this process.
func send(t testing.TB, br *mqtttest.Broker, id, cmd, args string) {
	t.Helper()
	var out, errOut syncBuffer
	c := &CLI{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}
	a := []string{"--broker", br.URL(), "send", id, cmd}
	if args != "" {
		a = append(a, args)
	}
	if code := c.Run(context.Background(), a); code != ExitOK {
		t.Fatalf("loaxactl %s = %d: %s %s", strings.Join(a, " "), code, out.String(), errOut.String())
	}
}

var mono48 = audio.Format{Rate: 48000, Channels: 1}

// outputGaps counts the times a simulated speaker ran dry while playing
// (a block that started more than 1 ms after the previous one ended): the
// player was late, as a loaded machine makes it now and then. A pole in
// step jumps back to its schedule afterwards; the burst that straddles
// the gap sounds late on that pole.
func outputGaps(recs []sim.SpeakerTiming, rate int) int {
	n := 0
	for i := 1; i < len(recs); i++ {
		prev := recs[i-1]
		end := prev.UnixNS + prev.Frames*int64(time.Second)/int64(rate)
		if recs[i].UnixNS-end > int64(time.Millisecond) {
			n++
		}
	}
	return n
}
