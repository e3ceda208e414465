package dsp

import (
	"math"
	"testing"
	"time"

	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/internal/audiotest"
)

func TestGainCurve(t *testing.T) {
	if g := Gain(0); g != 0 {
		t.Errorf("Gain(0) = %v, want 0 (mute)", g)
	}
	if g := Gain(100); g != 1 {
		t.Errorf("Gain(100) = %v, want 1 (0 dB)", g)
	}
	for l := 1; l <= 100; l++ {
		if Gain(l) <= Gain(l-1) {
			t.Fatalf("Gain(%d) = %v is not above Gain(%d) = %v", l, Gain(l), l-1, Gain(l-1))
		}
	}
	tests := []struct {
		level  int
		wantDB float64
	}{
		{90, -6}, {50, -30}, {1, -59.4},
	}
	for _, tt := range tests {
		if got := GainToDB(Gain(tt.level)); math.Abs(got-tt.wantDB) > 1e-9 {
			t.Errorf("Gain(%d) = %.3f dB, want %.1f dB", tt.level, got, tt.wantDB)
		}
	}
	if Gain(-5) != 0 || Gain(250) != 1 {
		t.Errorf("out-of-range levels not clamped: Gain(-5)=%v Gain(250)=%v", Gain(-5), Gain(250))
	}
}

func TestGainerRampHasNoClick(t *testing.T) {
	f := audio.Format{Rate: 48000, Channels: 2}
	const hz, amp = 440.0, 0.9
	in := audiotest.Sine(f, hz, amp, f.Rate/2)
	inStep := MaxStep(in, f.Channels)
	tests := []struct {
		name      string
		ramp      time.Duration
		wantClick bool
	}{
		// A jump from full volume to −20 dB in the middle of the waveform is
		// a click: this is what the ramp exists to prevent.
		{"no ramp", time.Nanosecond, true},
		{"default ramp", 0, false},
		{"50 ms", 50 * time.Millisecond, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := append([]int16(nil), in...)
			g := NewGainer(f, 1, tt.ramp)
			// Buffers of 10 ms; the change lands near a peak of the sine.
			buf := 480 * f.Channels
			change := 7*buf + 130
			g.Process(p[:change])
			g.SetGain(Gain(67)) // −19.8 dB
			for i := change; i < len(p); i += buf {
				g.Process(p[i:min(i+buf, len(p))])
			}
			// The sine's own step, plus what a DefaultRamp adds per frame.
			perFrame := (1 - Gain(67)) / (DefaultRamp.Seconds() * float64(f.Rate))
			bound := inStep + int(math.Ceil(amp*32767*perFrame)) + 2
			step := MaxStep(p, f.Channels)
			if click := step > bound; click != tt.wantClick {
				t.Errorf("max sample step %d, bound %d (the sine alone steps %d): click = %v, want %v", step, bound, inStep, click, tt.wantClick)
			}
			if !g.Done() {
				t.Errorf("ramp not finished after %v", time.Duration(len(p)/f.Channels-change/f.Channels)*time.Second/time.Duration(f.Rate))
			}
			tail := p[len(p)-4800:]
			if got, want := Peak(tail), GainToDB(amp*Gain(67)); math.Abs(got-want) > 0.1 {
				t.Errorf("level after the change %.2f dBFS peak, want %.2f", got, want)
			}
		})
	}
}

func TestGainerSaturates(t *testing.T) {
	f := audio.Format{Rate: 8000, Channels: 1}
	g := NewGainer(f, 4, 0)
	p := []int16{20000, -20000, 100, -100}
	g.Process(p)
	want := []int16{32767, -32768, 400, -400}
	for i := range p {
		if p[i] != want[i] {
			t.Fatalf("gain 4: got %v, want %v (saturated, not wrapped)", p, want)
		}
	}
}

func TestFades(t *testing.T) {
	f := audio.Format{Rate: 48000, Channels: 1}
	const fade = 100 * time.Millisecond
	frames := int(fade.Seconds() * float64(f.Rate))
	full := func(n int) []int16 {
		p := make([]int16, n)
		for i := range p {
			p[i] = 10000
		}
		return p
	}

	t.Run("in", func(t *testing.T) {
		g := NewGainer(f, 0, 0)
		g.FadeIn(1, fade)
		p := full(frames - 1)
		g.Process(p)
		if g.Done() {
			t.Fatalf("fade-in done after %d of %d frames", frames-1, frames)
		}
		if p[0] > 10000/int16(frames)+1 {
			t.Errorf("fade-in starts at %d, want one step up from silence", p[0])
		}
		for i := 1; i < len(p); i++ {
			if p[i] < p[i-1] {
				t.Fatalf("fade-in goes down at frame %d: %d after %d", i, p[i], p[i-1])
			}
		}
		q := full(10)
		g.Process(q)
		if !g.Done() || q[9] != 10000 {
			t.Errorf("after the fade-in: done=%v, sample %d, want done and 10000", g.Done(), q[9])
		}
	})
	t.Run("out", func(t *testing.T) {
		g := NewGainer(f, Gain(80), 0)
		g.FadeOut(fade)
		p := full(frames + 10)
		g.Process(p[:frames/2])
		if g.Done() {
			t.Fatal("fade-out done halfway")
		}
		g.Process(p[frames/2:])
		if !g.Done() || g.Gain() != 0 {
			t.Fatalf("fade-out not done after %v: gain %v", fade, g.Gain())
		}
		if Peak(p[frames:]) != Floor {
			t.Errorf("samples after the fade-out are not silent: %v", p[frames:])
		}
	})
}

func TestGainSource(t *testing.T) {
	f := audio.Format{Rate: 8000, Channels: 2}
	src := &sliceSource{f: f, p: []int16{1000, -1000, 2000, -2000}}
	s := GainSource(src, NewGainer(f, 0.5, 0))
	got := readAll(t, s, 1)
	want := []int16{500, -500, 1000, -1000}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if s.Close(); !src.closed {
		t.Error("closing the gain source did not close its source")
	}
}
