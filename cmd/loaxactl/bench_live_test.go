package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/audio/live"
	"github.com/loaxa/loaxa/internal/audiotest"
	"github.com/loaxa/loaxa/internal/mqtttest"
	"github.com/loaxa/loaxa/sim"
)

var mono48 = audio.Format{Rate: 48000, Channels: 1}

// benchTalk is how long each latency run talks: 750 frames, so p99 rests
// on the 8 slowest.
const benchTalk = 15 * time.Second

// BenchmarkGlassToSink measures live latency end to end, in real time, at
// the default 200 ms target: `loaxactl live` sends a tone from stdin
// through mosquitto (QoS 0, TCP_NODELAY) to a Hub; a player goroutine
// reads 20 ms at a time and writes to the simulated speaker, which paces
// like a device with a 40 ms queue. For every frame played:
//
//	buffer: capture timestamp → the Read that returned its first sample
//	sink:   capture timestamp → the moment the speaker starts playing it
//
// Sender and receiver share this machine's clock. Run it with
//
//	go test -run '^$' -bench GlassToSink -benchtime 1x ./cmd/loaxactl
func BenchmarkGlassToSink(b *testing.B) {
	for _, jitter := range []time.Duration{0, 40 * time.Millisecond} {
		b.Run("jitter="+jitter.String(), func(b *testing.B) {
			var buf, sink []time.Duration
			var st live.Stats
			for range b.N {
				bu, si, s := glassToSink(b, jitter)
				buf, sink, st = append(buf, bu...), append(sink, si...), s
			}
			b.ReportMetric(pct(buf, 50), "buffer-p50-ms")
			b.ReportMetric(pct(buf, 99), "buffer-p99-ms")
			b.ReportMetric(pct(sink, 50), "sink-p50-ms")
			b.ReportMetric(pct(sink, 99), "sink-p99-ms")
			b.ReportMetric(float64(st.Underruns), "underruns")
			b.ReportMetric(float64(st.Lost), "lost")
			b.ReportMetric(0, "ns/op") // one run is one talk: its duration says nothing
		})
	}
}

func pct(d []time.Duration, p int) float64 {
	if len(d) == 0 {
		return math.NaN()
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return float64(s[(len(s)-1)*p/100]) / float64(time.Millisecond)
}

func glassToSink(b *testing.B, jitter time.Duration) (buffer, sink []time.Duration, st live.Stats) {
	b.Helper()
	broker := mqtttest.Start(b)
	hub := live.NewHub(live.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := hub.Open(ctx, "bench", mono48)
	defer src.Close()

	rx := mqtttest.Connect(b, mqtttest.ClientOptions(broker, "bench-rx").SetOrderMatters(true))
	mqtttest.Wait(b, rx.Subscribe("loaxa/v1/live/+", 0, func(_ mqtt.Client, m mqtt.Message) {
		hub.Deliver(strings.TrimPrefix(m.Topic(), "loaxa/v1/live/"), m.Payload(), time.Now())
	}), "subscribe")

	spk, err := sim.NewAudioSink(mono48, sim.AudioSinkOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer spk.Close()

	type played struct {
		capture time.Time
		write   int
	}
	var frames []played
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the player: owned here, ends with the talk or ctx
		defer wg.Done()
		p := make([]int16, 960)
		prev := src.Stats()
		for w := 0; ; w++ {
			start := time.Now()
			n, err := src.Read(p)
			if err != nil {
				if !errors.Is(err, io.EOF) {
					b.Error(err)
				}
				return
			}
			s := src.Stats()
			if s.Playing && s.Concealed == prev.Concealed && s.Received > 0 {
				frames = append(frames, played{start.Add(-s.Latency), w})
				buffer = append(buffer, s.Latency)
			}
			prev = s
			if err := spk.Write(p[:n]); err != nil {
				b.Error(err)
				return
			}
		}
	}()

	var pcm []byte
	for _, v := range audiotest.Sine(mono48, 1000, 0.5, int(benchTalk/time.Second)*48000) {
		pcm = binary.LittleEndian.AppendUint16(pcm, uint16(v))
	}
	var out, errOut bytes.Buffer
	c := &CLI{Stdout: &out, Stderr: &errOut, Stdin: bytes.NewReader(pcm), Getenv: func(string) string { return "" }}
	b.ResetTimer()
	code := c.Run(ctx, []string{"--broker", broker.URL(), "--jitter", jitter.String(), "live", "--format", "s16le", "bench", "-"})
	if code != ExitOK {
		b.Fatalf("loaxactl live = %d: %s", code, errOut.String())
	}
	wg.Wait()
	b.StopTimer()
	writes := spk.Writes()
	for _, f := range frames {
		sink = append(sink, writes[f.write].Start.Sub(f.capture))
	}
	return buffer, sink, src.Stats()
}
