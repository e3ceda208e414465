package tone

import (
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/loaxa/loaxa/audio"
)

// Tone is a sine wave source: the same signal on every channel, with a
// continuous phase across reads (no discontinuity at buffer boundaries), by
// default endless.
type Tone struct {
	f      audio.Format
	hz     float64
	amp    float64 // peak, in int16 units
	step   float64 // phase increment per frame, radians
	phase  float64
	left   int64 // frames still to play; -1: endless
	err    error // the reason the tone cannot play
	closed bool
}

var errClosed = errors.New("tone: read after close")

// New returns a tone of hz Hz in format f, with a peak amplitude given as a
// fraction of full scale (0–1; 0.5 is −6 dBFS peak). It starts at phase
// zero, so its first sample is silence and it starts without a click.
// New does not fail: if hz is not between 0 and the Nyquist frequency of f,
// f is not valid or amplitude is not in 0–1, the first Read returns an
// error that says which.
func New(hz float64, f audio.Format, amplitude float64) *Tone {
	t := &Tone{f: f, hz: hz, left: -1}
	switch {
	case !f.Valid():
		t.err = fmt.Errorf("tone: format %v: rate must be 8000–192000 Hz and channels 1 or 2", f)
	case !(hz > 0 && hz < float64(f.Rate)/2):
		t.err = fmt.Errorf("tone: %v Hz cannot be played at %d Hz: want a frequency above 0 and below %d Hz", hz, f.Rate, f.Rate/2)
	case !(amplitude >= 0 && amplitude <= 1):
		t.err = fmt.Errorf("tone: amplitude %v: want 0 to 1 (a fraction of full scale)", amplitude)
	default:
		t.amp = amplitude * math.MaxInt16
		t.step = 2 * math.Pi * hz / float64(f.Rate)
	}
	return t
}

// For limits the tone to d (rounded to whole frames); Read returns io.EOF
// after it. It returns t, for chaining after New.
func (t *Tone) For(d time.Duration) *Tone {
	if t.f.Rate > 0 {
		t.left = max(0, int64(math.Round(d.Seconds()*float64(t.f.Rate))))
	}
	return t
}

// Format returns the tone's format.
func (t *Tone) Format() audio.Format { return t.f }

// Close ends the tone; Read then fails.
func (t *Tone) Close() error {
	t.closed = true
	return nil
}

// Read fills p with whole frames of the tone.
func (t *Tone) Read(p []int16) (int, error) {
	switch {
	case t.err != nil:
		return 0, t.err
	case t.closed:
		return 0, errClosed
	case t.left == 0:
		return 0, io.EOF
	}
	ch := t.f.Channels
	frames := len(p) / ch
	if t.left >= 0 {
		frames = int(min(int64(frames), t.left))
		t.left -= int64(frames)
	}
	for i := range frames {
		v := int16(math.Round(t.amp * math.Sin(t.phase)))
		for c := range ch {
			p[i*ch+c] = v
		}
		// Wrapping keeps the phase small, so that hours of tone stay as
		// precise as the first second.
		if t.phase += t.step; t.phase >= 2*math.Pi {
			t.phase -= 2 * math.Pi
		}
	}
	return frames * ch, nil
}
