package dsp

import (
	"math"

	"github.com/loaxa/loaxa/audio"
)

// Floor is the level reported for digital silence, in dBFS: a finite number
// that telemetry can carry in JSON, far below anything audible.
const Floor = -120.0

// fullScale is the reference of 0 dBFS: a square wave touching both int16
// limits. A full-scale sine therefore reads −3.01 dBFS RMS and 0 dBFS peak.
const fullScale = 32768.0

// Level returns the RMS level of p in dBFS (all channels together), or Floor
// for silence or an empty slice.
func Level(p []int16) float64 {
	if len(p) == 0 {
		return Floor
	}
	var sum float64
	for _, s := range p {
		v := float64(s)
		sum += v * v
	}
	return GainToDB(math.Sqrt(sum/float64(len(p))) / fullScale)
}

// Peak returns the largest absolute sample of p in dBFS, or Floor for
// silence or an empty slice.
func Peak(p []int16) float64 {
	m := 0
	for _, s := range p {
		m = max(m, abs(int(s)))
	}
	return GainToDB(float64(m) / fullScale)
}

// MaxStep returns the largest difference between consecutive samples of
// the same channel in interleaved PCM with the given channel count: a
// waveform that steps (a click) shows a MaxStep far above what its
// frequency content allows (a sine of amplitude A and frequency f steps at
// most 2π·f/rate·A per sample).
func MaxStep(p []int16, channels int) int {
	channels = max(channels, 1)
	m := 0
	for i := channels; i < len(p); i++ {
		m = max(m, abs(int(p[i])-int(p[i-channels])))
	}
	return m
}

// Goertzel returns the amplitude, as a fraction of full scale, of the
// component at hz in interleaved PCM of format f, averaged over channels.
// A sine of amplitude 0.5·32767 at hz reads 0.5. The block is Hann-windowed
// so that other components leak little into the measurement; it should span
// many periods of hz (100 ms or more for speech frequencies).
func Goertzel(p []int16, f audio.Format, hz float64) float64 {
	ch := max(f.Channels, 1)
	n := len(p) / ch
	if n < 2 || f.Rate <= 0 {
		return 0
	}
	w := 2 * math.Pi * hz / float64(f.Rate)
	coeff := 2 * math.Cos(w)
	var total float64
	for c := range ch {
		var s1, s2, wsum float64
		for i := range n {
			win := 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(n-1))
			wsum += win
			s0 := win*float64(p[i*ch+c]) + coeff*s1 - s2
			s2, s1 = s1, s0
		}
		re := s1 - s2*math.Cos(w)
		im := s2 * math.Sin(w)
		total += 2 * math.Hypot(re, im) / wsum / 32767
	}
	return total / float64(ch)
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
