package tone

import (
	"errors"
	"io"
	"math"
	"testing"
	"time"

	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/audio/dsp"
)

func readAll(t *testing.T, s audio.Source, chunk int) []int16 {
	t.Helper()
	var out []int16
	buf := make([]int16, chunk*s.Format().Channels)
	for {
		n, err := s.Read(buf)
		out = append(out, buf[:n]...)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestTone(t *testing.T) {
	tests := []struct {
		hz    float64
		f     audio.Format
		amp   float64
		chunk int // frames per Read: odd sizes cross the period at random
	}{
		{1000, audio.Format{Rate: 48000, Channels: 2}, 0.5, 480},
		{440, audio.Format{Rate: 44100, Channels: 1}, 1, 37},
		{3000.5, audio.Format{Rate: 8000, Channels: 1}, 0.25, 1},
	}
	for _, tt := range tests {
		t.Run(tt.f.String(), func(t *testing.T) {
			p := readAll(t, New(tt.hz, tt.f, tt.amp).For(time.Second), tt.chunk)
			if got := len(p) / tt.f.Channels; got != tt.f.Rate {
				t.Errorf("%d frames in 1 s, want %d", got, tt.f.Rate)
			}
			if a := dsp.Goertzel(p, tt.f, tt.hz); math.Abs(a-tt.amp) > 0.002 {
				t.Errorf("amplitude at %v Hz %.4f, want %.4f", tt.hz, a, tt.amp)
			}
			if got, want := dsp.Peak(p), dsp.GainToDB(tt.amp*32767/32768); math.Abs(got-want) > 0.05 {
				t.Errorf("peak %.2f dBFS, want %.2f", got, want)
			}
			// Continuous phase: no step bigger than the sine's own slope.
			limit := int(math.Ceil(2*math.Pi*tt.hz/float64(tt.f.Rate)*tt.amp*32767)) + 1
			if s := dsp.MaxStep(p, tt.f.Channels); s > limit {
				t.Errorf("max sample step %d, a continuous sine steps at most %d", s, limit)
			}
			if p[0] != 0 {
				t.Errorf("first sample %d, want 0 (start without a click)", p[0])
			}
		})
	}
}

func TestEndlessAndClose(t *testing.T) {
	s := New(1000, audio.Format{Rate: 48000, Channels: 1}, 0.5)
	buf := make([]int16, 4800)
	for range 100 {
		if n, err := s.Read(buf); n != len(buf) || err != nil {
			t.Fatalf("endless tone: Read = %d, %v", n, err)
		}
	}
	s.Close()
	if _, err := s.Read(buf); err == nil {
		t.Error("Read after Close succeeded")
	}
}

func TestBadArguments(t *testing.T) {
	ok := audio.Format{Rate: 48000, Channels: 2}
	tests := []struct {
		name string
		hz   float64
		f    audio.Format
		amp  float64
	}{
		{"zero Hz", 0, ok, 0.5},
		{"at Nyquist", 24000, ok, 0.5},
		{"NaN Hz", math.NaN(), ok, 0.5},
		{"amplitude above 1", 1000, ok, 1.5},
		{"negative amplitude", 1000, ok, -0.1},
		{"five channels", 1000, audio.Format{Rate: 48000, Channels: 5}, 0.5},
		{"zero format", 1000, audio.Format{}, 0.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := New(tt.hz, tt.f, tt.amp).For(time.Second).Read(make([]int16, 100))
			if err == nil || errors.Is(err, io.EOF) || n != 0 {
				t.Errorf("Read = %d, %v; want an error that explains", n, err)
			}
		})
	}
}
