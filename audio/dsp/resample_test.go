package dsp

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/loaxa/loaxa/internal/cputime"

	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/internal/audiotest"
)

// snr compares out with the ideal sine at the output rate, skipping the
// edges (where the input's start and end are not a sine), and returns the
// signal-to-error ratio in dB.
func snr(out []int16, f audio.Format, hz, amp float64, skip int) float64 {
	var sig, noise float64
	frames := len(out) / f.Channels
	for k := skip; k < frames-skip; k++ {
		ideal := amp * 32767 * math.Sin(2*math.Pi*hz*float64(k)/float64(f.Rate))
		for c := range f.Channels {
			e := float64(out[k*f.Channels+c]) - ideal
			sig += ideal * ideal
			noise += e * e
		}
	}
	return 10 * math.Log10(sig/math.Max(noise, 1e-9))
}

func TestResampleKeepsTone(t *testing.T) {
	tests := []struct {
		from, to, channels int
		hz                 float64
		minSNR             float64
	}{
		// About 88 dB is what two roundings to int16 (the test signal's and
		// the output's) leave of a half-scale sine; the 32-tap filter's
		// 80 dB stopband and passband ripple cost a few dB of that, far
		// below anything audible (linear interpolation reaches about
		// 20 dB near the top of the passband).
		{44100, 48000, 2, 1000, 80},
		{44100, 48000, 2, 10000, 80},
		{22050, 48000, 2, 1000, 80},
		{22050, 48000, 1, 5000, 80},
		{8000, 48000, 1, 1000, 80},
		{48000, 44100, 2, 1000, 80},
		{48000, 16000, 1, 3000, 80},
		// Reduced ratio 48000/44101: the interpolated-phase path.
		{44101, 48000, 1, 1000, 80},
	}
	for _, tt := range tests {
		from := audio.Format{Rate: tt.from, Channels: tt.channels}
		to := audio.Format{Rate: tt.to, Channels: tt.channels}
		t.Run(fmt.Sprintf("%d→%d Hz %dch %v Hz tone", tt.from, tt.to, tt.channels, tt.hz), func(t *testing.T) {
			const amp = 0.5
			in := audiotest.Sine(from, tt.hz, amp, tt.from/2) // 500 ms
			out := readAll(t, Convert(&sliceSource{f: from, p: in, chunk: randomChunks(7)}, to), 3)

			wantFrames := (len(in)/tt.channels*tt.to + tt.from - 1) / tt.from
			if got := len(out) / tt.channels; got != wantFrames {
				t.Errorf("%d output frames, want %d", got, wantFrames)
			}
			steady := out[to.Rate/20*tt.channels : len(out)-to.Rate/20*tt.channels]
			if a := Goertzel(steady, to, tt.hz); math.Abs(a-amp) > 0.005 {
				t.Errorf("amplitude at %v Hz is %.4f, want %.4f", tt.hz, a, amp)
			}
			// Samples played at the wrong rate would move the tone.
			shifted := tt.hz * float64(tt.from) / float64(tt.to)
			if a := Goertzel(steady, to, shifted); a > 0.01 {
				t.Errorf("amplitude at %.0f Hz (the tone at the wrong rate) is %.4f, want ~0", shifted, a)
			}
			got := snr(out, to, tt.hz, amp, tt.to/100)
			t.Logf("SNR against the ideal sine: %.1f dB", got)
			if got < tt.minSNR {
				t.Errorf("output differs from the ideal %v Hz sine: SNR %.1f dB, want ≥ %.0f dB", tt.hz, got, tt.minSNR)
			}
		})
	}
}

// Converting down, a tone above the new Nyquist frequency is removed,
// not folded back into the audible band.
func TestResampleRejectsAliases(t *testing.T) {
	from := audio.Format{Rate: 48000, Channels: 1}
	to := audio.Format{Rate: 16000, Channels: 1}
	out := readAll(t, Convert(&sliceSource{f: from, p: audiotest.Sine(from, 12000, 0.9, 48000)}, to), 1)
	// 12 kHz sampled at 16 kHz would be heard at 4 kHz.
	if a := Goertzel(out, to, 4000); GainToDB(a/0.9) > -70 {
		t.Errorf("12 kHz tone aliased to 4 kHz at %.1f dB, want below -70 dB", GainToDB(a/0.9))
	}
}

// A 60 s stream (mono, to keep the test quick under the race detector)
// fed in chunks of random size (including empty ones) gives
// exactly ceil(n·to/from) frames: no sample dropped or repeated at any
// buffer boundary.
func TestResampleSampleCount(t *testing.T) {
	rates := []struct{ from, to, seconds int }{{44100, 48000, 60}, {22050, 48000, 60}, {48000, 44100, 20}}
	for _, rt := range rates {
		t.Run(fmt.Sprintf("%d→%d Hz", rt.from, rt.to), func(t *testing.T) {
			t.Parallel() // the race detector makes this the slowest test here
			r, err := NewResampler(rt.from, rt.to, 1)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(uint64(rt.from), 9))
			chunk := make([]int16, 8192)
			for i := range chunk {
				chunk[i] = int16(rng.IntN(65536) - 32768)
			}
			total := rt.seconds * rt.from
			var in, out int64
			var dst []int16
			for left := total; left > 0; {
				n := min(left, rng.IntN(8193))
				dst, err = r.Process(dst[:0], chunk[:n])
				if err != nil {
					t.Fatal(err)
				}
				in += int64(n)
				out += int64(len(dst))
				left -= n
				// Output never runs further ahead of the input than the
				// filter's lookahead allows, nor lags it by more.
				if lag := float64(in)*float64(rt.to)/float64(rt.from) - float64(out); lag < 0 || lag > float64(r.w+2)*float64(rt.to)/float64(rt.from) {
					t.Fatalf("after %d input frames: %d output frames (lag %.1f)", in, out, lag)
				}
			}
			out += int64(len(r.Flush(dst[:0])))
			want := (int64(total)*int64(rt.to) + int64(rt.from) - 1) / int64(rt.from)
			if out != want {
				t.Errorf("%d Hz→%d Hz, %d s: %d output frames, want %d", rt.from, rt.to, rt.seconds, out, want)
			}
		})
	}
}

// The output does not depend on how the input was cut into buffers.
func TestResampleChunkingInvariant(t *testing.T) {
	f := audio.Format{Rate: 44100, Channels: 2}
	to := audio.Format{Rate: 48000, Channels: 2}
	rng := rand.New(rand.NewPCG(5, 5))
	in := make([]int16, 2*44100)
	for i := range in {
		in[i] = int16(rng.IntN(40000) - 20000)
	}
	whole := readAll(t, Convert(&sliceSource{f: f, p: in}, to), 1)
	for seed := range uint64(3) {
		chunked := readAll(t, Convert(&sliceSource{f: f, p: in, chunk: randomChunks(seed)}, to), seed)
		if !slices.Equal(whole, chunked) {
			t.Fatalf("seed %d: output differs when the input comes in random chunks", seed)
		}
	}
}

func TestConvertChannels(t *testing.T) {
	tests := []struct {
		name     string
		from, to audio.Format
		in, want []int16
	}{
		{"stereo to mono averages", audio.Format{Rate: 8000, Channels: 2}, audio.Format{Rate: 8000, Channels: 1},
			[]int16{100, 300, -32768, -32768, 32767, 32767, 1000, -1000}, []int16{200, -32768, 32767, 0}},
		{"mono to stereo copies", audio.Format{Rate: 8000, Channels: 1}, audio.Format{Rate: 8000, Channels: 2},
			[]int16{5, -7, 32767}, []int16{5, 5, -7, -7, 32767, 32767}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := readAll(t, Convert(&sliceSource{f: tt.from, p: tt.in, chunk: randomChunks(1)}, tt.to), 1)
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}

	// With a rate change too: left and right carry different tones, the
	// mono result carries both at half amplitude.
	from := audio.Format{Rate: 44100, Channels: 2}
	to := audio.Format{Rate: 48000, Channels: 1}
	left, right := audiotest.Sine(audio.Format{Rate: 44100, Channels: 1}, 500, 0.8, 44100), audiotest.Sine(audio.Format{Rate: 44100, Channels: 1}, 2000, 0.4, 44100)
	in := make([]int16, 0, 2*44100)
	for i := range left {
		in = append(in, left[i], right[i])
	}
	out := readAll(t, Convert(&sliceSource{f: from, p: in}, to), 2)
	if len(out) != 48000 {
		t.Errorf("%d mono frames, want 48000", len(out))
	}
	for _, c := range []struct{ hz, amp float64 }{{500, 0.4}, {2000, 0.2}} {
		if a := Goertzel(out[4800:len(out)-4800], to, c.hz); math.Abs(a-c.amp) > 0.005 {
			t.Errorf("%v Hz at %.3f, want %.3f", c.hz, a, c.amp)
		}
	}
}

func TestConvertErrors(t *testing.T) {
	f := audio.Format{Rate: 44100, Channels: 2}
	boom := errors.New("network gone")

	t.Run("source error after its samples", func(t *testing.T) {
		src := &sliceSource{f: f, p: audiotest.Sine(f, 1000, 0.5, 4410), err: boom}
		c := Convert(src, audio.Format{Rate: 48000, Channels: 2})
		buf := make([]int16, 100000)
		got := 0
		var err error
		for err == nil {
			var n int
			n, err = c.Read(buf)
			got += n
		}
		if !errors.Is(err, boom) {
			t.Fatalf("error %v, want the source's", err)
		}
		// Everything that could be computed before the error came out.
		if want := 2 * (4800 - 40); got < want {
			t.Errorf("%d samples before the error, want at least %d", got, want)
		}
	})
	t.Run("invalid formats", func(t *testing.T) {
		for _, to := range []audio.Format{{Rate: 48000, Channels: 6}, {Rate: 1000, Channels: 2}} {
			_, err := Convert(&sliceSource{f: f, p: make([]int16, 10)}, to).Read(make([]int16, 10))
			if err == nil || errors.Is(err, io.EOF) {
				t.Errorf("convert to %v: error %v, want one naming the format", to, err)
			}
		}
	})
	t.Run("same format is the source itself", func(t *testing.T) {
		src := &sliceSource{f: f}
		if Convert(src, f) != audio.Source(src) {
			t.Error("Convert wrapped a source that needs no conversion")
		}
	})
	t.Run("resampler input not whole frames", func(t *testing.T) {
		r, err := NewResampler(44100, 48000, 2)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Process(nil, []int16{1, 2, 3}); err == nil {
			t.Error("three samples of stereo accepted")
		}
		r.Flush(nil)
		if _, err := r.Process(nil, []int16{1, 2}); err == nil {
			t.Error("Process after Flush accepted")
		}
		r.Reset()
		if _, err := r.Process(nil, []int16{1, 2}); err != nil {
			t.Errorf("Process after Reset: %v", err)
		}
	})
	t.Run("bad rates", func(t *testing.T) {
		for _, r := range [][3]int{{0, 48000, 1}, {44100, 48000, 3}, {44100, 400000, 2}} {
			if _, err := NewResampler(r[0], r[1], r[2]); err == nil {
				t.Errorf("NewResampler%v accepted", r)
			}
		}
	})
}

func TestResampleFullScaleSaturates(t *testing.T) {
	// A full-scale square wave rings above full scale after filtering: the
	// overshoot must clip, not wrap around to the opposite sign.
	in := make([]int16, 4410)
	for i := range in {
		in[i] = 32767
		if i/50%2 == 1 {
			in[i] = -32768
		}
	}
	f := audio.Format{Rate: 44100, Channels: 1}
	out := readAll(t, Convert(&sliceSource{f: f, p: in}, audio.Format{Rate: 48000, Channels: 1}), 1)
	overshoot := false
	for k, v := range out[:len(out)-100] {
		tin := float64(k) * 44100 / 48000
		edge := math.Round(tin/50) * 50
		if math.Abs(tin-edge) < 2 {
			continue // on the transition itself (a 32-tap filter's spans 2 input frames)
		}
		high := int(tin)/50%2 == 0
		if high && v < 28000 || !high && v > -28000 {
			t.Fatalf("output frame %d = %d inside a %v plateau: wrapped around", k, v, map[bool]string{true: "high", false: "low"}[high])
		}
		overshoot = overshoot || v == 32767 || v == -32768
	}
	if !overshoot {
		t.Error("the square wave never reached full scale: the test does not exercise clipping")
	}
}

// BenchmarkResample converts one second of audio per iteration, in 20 ms
// buffers, and reports the cost as a fraction of real time: cpu-x-realtime
// from the thread's own CPU time (what a loaded machine does not inflate),
// x-realtime from the wall clock.
func BenchmarkResample(b *testing.B) {
	for _, rt := range []struct{ from, to, ch int }{{44100, 48000, 2}, {22050, 48000, 2}, {48000, 44100, 2}, {44101, 48000, 2}} {
		b.Run(fmt.Sprintf("%d→%d_%dch", rt.from, rt.to, rt.ch), func(b *testing.B) {
			r, err := NewResampler(rt.from, rt.to, rt.ch)
			if err != nil {
				b.Fatal(err)
			}
			in := audiotest.Sine(audio.Format{Rate: rt.from, Channels: rt.ch}, 1000, 0.5, rt.from/50)
			dst := make([]int16, 0, 4*len(in))
			b.SetBytes(int64(rt.from * rt.ch * 2))
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			cpu0, ok := cputime.Thread()
			b.ResetTimer()
			for range b.N {
				for range 50 {
					dst, _ = r.Process(dst[:0], in)
				}
			}
			b.StopTimer()
			if cpu1, ok1 := cputime.Thread(); ok && ok1 {
				b.ReportMetric((cpu1-cpu0).Seconds()/float64(b.N), "cpu-x-realtime")
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "x-realtime")
		})
	}
}
