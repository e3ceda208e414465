package dsp

import (
	"math"
	"testing"

	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/internal/audiotest"
)

func TestLevel(t *testing.T) {
	f := audio.Format{Rate: 48000, Channels: 2}
	tests := []struct {
		name         string
		p            []int16
		rms, peak    float64
		tolerance    float64
		goertzelAt   float64
		wantGoertzel float64
	}{
		{"full-scale sine", audiotest.Sine(f, 1000, 1, 4800), -3.01, 0, 0.01, 1000, 1},
		{"half-scale sine", audiotest.Sine(f, 1000, 0.5, 4800), -9.03, -6.02, 0.01, 1000, 0.5},
		{"half-scale sine, other frequency", audiotest.Sine(f, 1000, 0.5, 4800), -9.03, -6.02, 0.01, 1500, 0},
		{"silence", make([]int16, 100), Floor, Floor, 0, 1000, 0},
		{"empty", nil, Floor, Floor, 0, 1000, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Level(tt.p); math.Abs(got-tt.rms) > tt.tolerance {
				t.Errorf("Level = %.3f dBFS, want %.3f", got, tt.rms)
			}
			if got := Peak(tt.p); math.Abs(got-tt.peak) > tt.tolerance {
				t.Errorf("Peak = %.3f dBFS, want %.3f", got, tt.peak)
			}
			if got := Goertzel(tt.p, f, tt.goertzelAt); math.Abs(got-tt.wantGoertzel) > 0.002 {
				t.Errorf("Goertzel at %v Hz = %.4f, want %.4f", tt.goertzelAt, got, tt.wantGoertzel)
			}
		})
	}
}

func TestMaxStep(t *testing.T) {
	// Channels are compared with themselves, not with each other.
	p := []int16{0, 1000, 10, 1000, 30, 990}
	if got := MaxStep(p, 2); got != 20 {
		t.Errorf("MaxStep = %d, want 20", got)
	}
	if got := MaxStep(p, 1); got != 1000 {
		t.Errorf("MaxStep mono = %d, want 1000", got)
	}
}
