package live_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"gopkg.in/hraban/opus.v2"

	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/audio/live"
	"github.com/loaxa/loaxa/internal/clock"
	"github.com/loaxa/loaxa/internal/cputime"
)

var mono48 = audio.Format{Rate: 48000, Channels: 1}

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
	cpu0, ok := cputime.Thread()
	return func() {
		defer runtime.UnlockOSThread()
		if b.N == 0 {
			return
		}
		used := b.Elapsed()
		if cpu1, ok1 := cputime.Thread(); ok && ok1 {
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
