package dsp

import (
	"math"
	"sync"
	"time"

	"github.com/loaxa/loaxa/audio"
)

// RangeDB is the span of the volume curve: level 1 plays RangeDB·99/100
// below full scale, level 100 at full scale.
const RangeDB = 60.0

// DefaultRamp is how long a Gainer takes to move to a new gain when the
// caller does not say: long enough that the change is not heard as a click
// (a few periods of the lowest frequencies a horn speaker reproduces),
// short enough that the volume control feels immediate.
const DefaultRamp = 30 * time.Millisecond

// Gain maps a volume level 0–100 to a linear amplitude factor. The curve is
// linear in decibels: each step is RangeDB/100 = 0.6 dB, so level 100 is
// 0 dB (factor 1), 90 is −6 dB (about ½), 50 is −30 dB, 1 is −59.4 dB, and
// level 0 is silence (factor 0), not merely quiet. Levels outside 0–100 are
// clamped.
func Gain(level int) float64 {
	switch {
	case level <= 0:
		return 0
	case level >= 100:
		return 1
	}
	return DBToGain(-RangeDB * float64(100-level) / 100)
}

// DBToGain converts decibels to a linear amplitude factor.
func DBToGain(db float64) float64 { return math.Pow(10, db/20) }

// GainToDB converts a linear amplitude factor to decibels; 0 gives Floor.
func GainToDB(g float64) float64 {
	if g <= 0 || math.IsNaN(g) {
		return Floor
	}
	return math.Max(20*math.Log10(g), Floor)
}

// A Gainer multiplies PCM by a gain that moves linearly, sample by sample,
// from its current value to a target over a ramp time, so that neither a
// volume change nor a fade steps the waveform. Results saturate at the
// int16 limits rather than wrapping around.
//
// Process is called by the goroutine that feeds the sink; the setters and
// getters may be called from any goroutine (the agent changes the volume
// while audio plays).
type Gainer struct {
	rate     int // frames per second
	channels int

	mu     sync.Mutex // guards the fields below
	ramp   time.Duration
	cur    float64 // gain of the last frame processed
	target float64
	step   float64 // per-frame change towards target, > 0 while ramping
}

// NewGainer returns a Gainer for PCM of format f that starts at gain
// (already settled: no ramp at the start) and ramps later changes over ramp
// (DefaultRamp if ramp <= 0).
func NewGainer(f audio.Format, gain float64, ramp time.Duration) *Gainer {
	if ramp <= 0 {
		ramp = DefaultRamp
	}
	g := sanitize(gain)
	return &Gainer{rate: max(f.Rate, 1), channels: max(f.Channels, 1), ramp: ramp, cur: g, target: g}
}

// sanitize makes a gain usable: NaN and negative gains mean silence,
// infinity the loudest gain int16 can express anyway.
func sanitize(g float64) float64 {
	switch {
	case math.IsNaN(g) || g <= 0:
		return 0
	case g > 65536:
		return 65536
	}
	return g
}

// SetGain ramps to gain over the Gainer's ramp time.
func (g *Gainer) SetGain(gain float64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.rampLocked(sanitize(gain), g.ramp)
}

// RampTo ramps from the current gain to gain over d. A d of zero or less
// jumps at once (for a source that starts from silence, say).
func (g *Gainer) RampTo(gain float64, d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.rampLocked(sanitize(gain), d)
}

// FadeIn starts from silence and ramps to gain over d. Done reports when
// the fade is complete.
func (g *Gainer) FadeIn(gain float64, d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.cur = 0
	g.rampLocked(sanitize(gain), d)
}

// FadeOut ramps from the current gain to silence over d. Done reports when
// the fade is complete: from then on, Process outputs zeros.
func (g *Gainer) FadeOut(d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.rampLocked(0, d)
}

// rampLocked sets the ramp; g.mu is held.
func (g *Gainer) rampLocked(to float64, d time.Duration) {
	g.target = to
	frames := math.Round(d.Seconds() * float64(g.rate))
	if frames < 1 || g.cur == to {
		g.cur, g.step = to, 0
		return
	}
	g.step = math.Abs(to-g.cur) / frames
}

// Gain returns the gain applied to the last frame processed.
func (g *Gainer) Gain() float64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cur
}

// Target returns the gain the Gainer is moving to (or holds).
func (g *Gainer) Target() float64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.target
}

// Done reports whether the gain has reached its target: a fade is
// complete, a volume change has fully taken effect.
func (g *Gainer) Done() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cur == g.target
}

// Process applies the gain to p in place. p holds whole frames of the
// Gainer's format; a trailing partial frame is scaled with the last gain.
func (g *Gainer) Process(p []int16) {
	// The lock is held throughout (a few microseconds per buffer) so that a
	// setter always ramps from the gain actually reached.
	g.mu.Lock()
	defer g.mu.Unlock()
	cur, target, step := g.cur, g.target, g.step
	ch := g.channels
	i := 0
	for cur != target && i < len(p) {
		if cur < target {
			cur = math.Min(cur+step, target)
		} else {
			cur = math.Max(cur-step, target)
		}
		end := min(i+ch, len(p))
		for ; i < end; i++ {
			p[i] = scale(p[i], cur)
		}
	}
	g.cur = cur
	switch rest := p[i:]; cur {
	case 1:
	case 0:
		clear(rest)
	default:
		// A steady gain in fixed point, 16 fraction bits: within a quarter
		// of a step of 16-bit audio of the exact product, at a fraction of
		// the cost of rounding in floating point (this runs over every
		// sample played).
		q := int64(math.Round(cur * (1 << 16)))
		for j, s := range rest {
			v := (int64(s)*q + 1<<15) >> 16
			rest[j] = int16(min(max(v, math.MinInt16), math.MaxInt16))
		}
	}
}

func scale(s int16, g float64) int16 { return Sat16(math.Round(float64(s) * g)) }

// Sat16 converts x to int16, saturating at the limits instead of wrapping
// around (a wrapped sample is a full-scale click). NaN gives 0.
func Sat16(x float64) int16 {
	switch {
	case x >= math.MaxInt16:
		return math.MaxInt16
	case x <= math.MinInt16:
		return math.MinInt16
	case x != x:
		return 0
	}
	return int16(x)
}

// GainSource applies g to everything read from src. Closing it closes src.
func GainSource(src audio.Source, g *Gainer) audio.Source { return &gainSource{src, g} }

type gainSource struct {
	audio.Source
	g *Gainer
}

func (s *gainSource) Read(p []int16) (int, error) {
	n, err := s.Source.Read(p)
	s.g.Process(p[:n])
	return n, err
}
