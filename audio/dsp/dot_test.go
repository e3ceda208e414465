package dsp

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestDotLanes checks dotLanes, which runs on the machine's vector unit
// where it has one, against the sums in float64 for every length up to
// five vectors and a misaligned start.
func TestDotLanes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n <= 41; n++ {
		for _, off := range []int{0, 1, 3} {
			h := make([]float32, n+off)[off:]
			x := make([]float32, n+off+5)[off:] // longer than h: only len(h) counts
			for i := range h {
				h[i] = rng.Float32()*2 - 1
				x[i] = (rng.Float32()*2 - 1) * 32768
			}
			x[n], x[n+1] = 1e9, 1e9
			var we, wo, scale float64
			for i := range h {
				p := float64(h[i]) * float64(x[i])
				if i%2 == 0 {
					we += p
				} else {
					wo += p
				}
				scale += math.Abs(p)
			}
			e, o := dotLanes(h, x)
			ge, go_ := dotLanesGo(h, x)
			for _, c := range []struct {
				name      string
				got, want float64
			}{{"even", float64(e), we}, {"odd", float64(o), wo}, {"even (Go)", float64(ge), we}, {"odd (Go)", float64(go_), wo}} {
				if d := math.Abs(c.got - c.want); d > 1e-5*scale+1e-3 {
					t.Errorf("n=%d off=%d: %s sum %g, want %g", n, off, c.name, c.got, c.want)
				}
			}
		}
	}
}

// BenchmarkDotLanes is one stereo output sample of the 44.1→48 kHz
// resampler: 32 taps × 2 channels.
func BenchmarkDotLanes(b *testing.B) {
	h := make([]float32, 64)
	x := make([]float32, 64)
	for i := range h {
		h[i], x[i] = float32(i), float32(64-i)
	}
	var s float32
	for b.Loop() {
		e, o := dotLanes(h, x)
		s += e + o
	}
	_ = s
}
