package live_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"gopkg.in/hraban/opus.v2"

	"github.com/loaxa/loaxa/agent/clock"
	"github.com/loaxa/loaxa/agent/ctl"
	"github.com/loaxa/loaxa/agent/mqtttest"
	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/audio/live"
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
//	go test -run '^$' -bench GlassToSink -benchtime 1x ./audio/live
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

	pcm := make([]byte, 2*int(benchTalk/time.Second)*48000)
	for i := range len(pcm) / 2 {
		binary.LittleEndian.PutUint16(pcm[2*i:], uint16(int16(16000*math.Sin(2*math.Pi*1000*float64(i)/48000))))
	}
	var out, errOut bytes.Buffer
	c := &ctl.CLI{Stdout: &out, Stderr: &errOut, Stdin: bytes.NewReader(pcm), Getenv: func(string) string { return "" }}
	b.ResetTimer()
	code := c.Run(ctx, []string{"--broker", broker.URL(), "--jitter", jitter.String(), "live", "--format", "s16le", "bench", "-"})
	if code != ctl.ExitOK {
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

// speech makes a second of a voice-like signal: a buzz of harmonics whose
// pitch glides between 110 and 220 Hz, shaped into syllables four times a
// second, with a little breath noise. Opus codes it as it would speech.
func speech(seconds int) []int16 {
	rng := rand.New(rand.NewPCG(1, 1))
	out := make([]int16, seconds*48000)
	phase := 0.0
	for i := range out {
		t := float64(i) / 48000
		f0 := 165 + 55*math.Sin(2*math.Pi*0.7*t)
		phase += 2 * math.Pi * f0 / 48000
		var v float64
		for h := 1; h <= 12; h++ {
			v += math.Sin(float64(h)*phase) / float64(h)
		}
		env := math.Max(0, math.Sin(2*math.Pi*4*t))
		out[i] = int16(6000*env*v + 300*rng.NormFloat64())
	}
	return out
}

// encodeTalk encodes pcm (48 kHz mono) into frames as loaxactl live does.
func encodeTalk(b *testing.B, pcm []int16) [][]byte {
	b.Helper()
	enc, err := live.NewEncoder(live.EncoderOptions{Format: mono48})
	if err != nil {
		b.Fatal(err)
	}
	n := enc.FrameSamples()
	var frames [][]byte
	t0 := time.Unix(1764100000, 0)
	for k := 0; (k+1)*n <= len(pcm); k++ {
		f, err := enc.Encode(pcm[k*n:(k+1)*n], t0.Add(time.Duration(k)*20*time.Millisecond), (k+2)*n > len(pcm))
		if err != nil {
			b.Fatal(err)
		}
		m, err := f.Marshal()
		if err != nil {
			b.Fatal(err)
		}
		frames = append(frames, m)
	}
	return frames
}

// BenchmarkOpusDecode is the CPU a pole spends per second of live audio
// (one op = one second: 50 frames of 24 kbit/s Opus, speech-like):
//
//	decoder: libopus alone
//	source:  the whole receive path, Deliver and Read through the jitter
//	         buffer, to 48 kHz mono
//	source-44k1-stereo: the same, resampled to a 44.1 kHz stereo device
//
//	go test -run '^$' -bench OpusDecode ./audio/live
func BenchmarkOpusDecode(b *testing.B) {
	frames := encodeTalk(b, speech(1))
	b.Run("decoder", func(b *testing.B) {
		stop := cpuMeter(b)
		defer stop()
		dec, err := opus.NewDecoder(48000, 1)
		if err != nil {
			b.Fatal(err)
		}
		pcm := make([]int16, 5760)
		for b.Loop() {
			for _, f := range frames {
				if _, err := dec.Decode(f[live.HeaderSize:], pcm); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	for _, out := range []audio.Format{mono48, {Rate: 44100, Channels: 2}} {
		name := "source"
		if out != mono48 {
			name = "source-44k1-stereo"
		}
		b.Run(name, func(b *testing.B) {
			stop := cpuMeter(b)
			defer stop()
			clk := clock.NewFake(time.Unix(1764100000, 0))
			hub := live.NewHub(live.Options{Clock: clk, MaxLatency: 2 * time.Second})
			p := make([]int16, 960*out.Channels)
			for b.Loop() {
				src := hub.Open(context.Background(), "bench", out)
				for _, f := range frames {
					hub.Deliver("bench", f, clk.Now())
				}
				for {
					if _, err := src.Read(p); err != nil {
						if !errors.Is(err, io.EOF) {
							b.Fatal(err)
						}
						break
					}
				}
				src.Close()
			}
		})
	}
}

// cpuMeter locks the benchmark to its thread and returns the function
// that reports, when the benchmark ends, the thread's CPU time per op (one
// op is one second of audio) in ms and as a share of one core. Thread CPU
// time, unlike ns/op, does not grow when the machine is busy with other
// work; where it cannot be read, wall time stands in.
func cpuMeter(b *testing.B) func() {
	runtime.LockOSThread()
	cpu0, ok := threadCPU()
	return func() {
		defer runtime.UnlockOSThread()
		if b.N == 0 {
			return
		}
		used := b.Elapsed()
		if cpu1, ok1 := threadCPU(); ok && ok1 {
			used = cpu1 - cpu0
		}
		per := float64(used.Nanoseconds()) / float64(b.N)
		b.ReportMetric(per/1e6, "cpu-ms/s-audio")
		b.ReportMetric(100*per/1e9, "%-of-a-core")
	}
}

func ExampleHub() {
	hub := live.NewHub(live.Options{})
	// The agent's MQTT handler for loaxa/v1/live/+ hands every frame over:
	//	hub.Deliver(channel, msg.Payload(), clock.Now())
	src := hub.Open(context.Background(), "province", audio.Format{Rate: 48000, Channels: 2})
	defer src.Close()
	// The player reads src like any audio.Source; it never blocks.
	p := make([]int16, 1920)
	n, err := src.Read(p)
	fmt.Println(n, err, src.Stats().Playing)
	// Output: 1920 <nil> false
}
