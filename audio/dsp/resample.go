package dsp

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/loaxa/loaxa/audio"
)

// Filter design of the Resampler. halfTaps is the filter half-length
// counted in samples of the lower of the two rates: 32 taps per output
// sample when converting up (the length of ffmpeg's swresample by
// default), scaled up when converting down so that the transition band
// stays the same width relative to the output. With a Kaiser window for
// stopbandDB of rejection, the transition band is 31% of the lower
// Nyquist frequency; it is placed just below that Nyquist frequency, so
// nothing aliases and the passband reaches 69% of it (15.2 kHz at
// 44.1 kHz, 7.6 kHz at 22.05 kHz). That is ample for speech and music on
// horn speakers, which carry little above 10 kHz, and it halves the cost
// of 64 taps (the resampler was most of the audio path's CPU; figures in
// docs/benchmarks.md).
const (
	halfTaps   = 16
	stopbandDB = 80.0
	// A ratio whose reduced numerator (the number of distinct output
	// phases) is at most maxExactPhases gets one exact filter per phase
	// (44.1→48 kHz has 160). Other ratios, such as a drifting clock's
	// 44101→48000, use interpPhases filters and interpolate between the two
	// nearest; the error of that interpolation is far below 16-bit noise.
	maxExactPhases = 4096
	interpPhases   = 512
	// maxTableFloats bounds the filter table (4 MiB).
	maxTableFloats = 1 << 20
)

// A Resampler converts interleaved int16 PCM from one sample rate to
// another with a windowed-sinc filter in polyphase form. It streams: input
// may arrive in chunks of any size and the output is the same as if it had
// come in one piece. It neither drops nor repeats samples: after Flush, n
// input frames have produced exactly ceil(n·to/from) output frames. Output
// frame k is the input signal evaluated at time k/to, so the conversion
// adds no delay to the signal (it needs a few milliseconds of lookahead:
// output lags input by up to halfTaps frames of the lower rate until
// Flush).
//
// A Resampler is used by one goroutine at a time.
type Resampler struct {
	from, to, channels int

	l, m  int64 // to/from reduced: l output frames per m input frames
	w     int   // half-length of the filter, in input frames
	taps  int   // 2·w
	rows  int   // phases in table; rows+1 are stored
	exact bool  // rows == l: each output phase has its own row
	// table holds rows+1 filters of stride floats: taps coefficients, each
	// repeated for every channel, so that a filter lines up with the
	// interleaved input it is applied to (see dotLanes).
	table  []float32
	stride int

	hist      []float32 // interleaved input frames from histStart on
	histStart int64     // absolute input frame index of hist[0]
	ip        int64     // next output at input time ip + frac/l
	frac      int64
	stepInt   int64 // m / l
	stepFrac  int64 // m % l
	inFrames  int64
	flushed   bool
}

// NewResampler returns a Resampler from rate from to rate to (Hz) for the
// given number of interleaved channels.
func NewResampler(from, to, channels int) (*Resampler, error) {
	for _, f := range []audio.Format{{Rate: from, Channels: channels}, {Rate: to, Channels: channels}} {
		if !f.Valid() {
			return nil, fmt.Errorf("dsp: cannot resample %d Hz to %d Hz with %d channels: rates must be 8000–192000 Hz and channels 1 or 2", from, to, channels)
		}
	}
	g := int64(gcd(from, to))
	r := &Resampler{from: from, to: to, channels: channels, l: int64(to) / g, m: int64(from) / g}
	r.stepInt, r.stepFrac = r.m/r.l, r.m%r.l

	ratio := math.Min(1, float64(to)/float64(from))
	r.w = int(math.Ceil(halfTaps / ratio))
	r.taps = 2 * r.w
	r.stride = r.taps * channels
	r.rows = interpPhases
	if r.l <= maxExactPhases && (r.l+1)*int64(r.stride) <= maxTableFloats {
		r.rows, r.exact = int(r.l), true
	}
	r.table = design(r.rows, r.w, ratio, channels)
	r.Reset()
	return r, nil
}

// design builds rows+1 filters of 2w taps, each tap repeated ch times;
// row p evaluates the input at fractional position p/rows past an input
// frame.
func design(rows, w int, ratio float64, ch int) []float32 {
	taps := 2 * w
	// Kaiser: transition width in cycles per sample of the lower rate.
	transition := (stopbandDB - 7.95) / (14.36 * 2 * halfTaps)
	fc := (0.5 - transition/2) * ratio // cutoff, cycles per input sample
	beta := 0.1102 * (stopbandDB - 8.7)
	i0b := besselI0(beta)
	table := make([]float32, (rows+1)*taps*ch)
	row := make([]float64, taps)
	for p := 0; p <= rows; p++ {
		phi := float64(p) / float64(rows)
		var sum float64
		for j := range taps {
			d := phi + float64(w-1-j) // input time minus tap time
			x := d / float64(w)
			v := 0.0
			if x > -1 && x < 1 {
				v = 2 * fc * sinc(2*fc*d) * besselI0(beta*math.Sqrt(1-x*x)) / i0b
			}
			row[j] = v
			sum += v
		}
		// Every phase passes DC at exactly unity gain; otherwise the gain
		// would ripple with the phase and modulate the signal.
		for j, v := range row {
			for c := range ch {
				table[(p*taps+j)*ch+c] = float32(v / sum)
			}
		}
	}
	return table
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

// besselI0 is the modified Bessel function of the first kind, order 0.
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 200 && term > 1e-12*sum; k++ {
		h := x / (2 * float64(k))
		term *= h * h
		sum += term
	}
	return sum
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// Reset forgets all input, so that the Resampler can start a new stream.
func (r *Resampler) Reset() {
	// The input before the stream is silence: w−1 zero frames let the
	// first output frame (input time 0) be computed as soon as w input
	// frames have arrived.
	r.hist = append(r.hist[:0], make([]float32, (r.w-1)*r.channels)...)
	r.histStart = -int64(r.w - 1)
	r.ip, r.frac, r.inFrames, r.flushed = 0, 0, 0, false
}

// errFlushed is returned by Process after Flush.
var errFlushed = errors.New("dsp: resampler already flushed: Reset it to start a new stream")

// Process consumes all of src (whole interleaved frames) and appends to dst
// every output frame that can now be computed.
func (r *Resampler) Process(dst, src []int16) ([]int16, error) {
	if r.flushed {
		return dst, errFlushed
	}
	if len(src)%r.channels != 0 {
		return dst, fmt.Errorf("dsp: resample: %d samples is not a whole number of %d-channel frames", len(src), r.channels)
	}
	n := len(r.hist)
	h := slices.Grow(r.hist, len(src))[:n+len(src)]
	for i, v := range src {
		h[n+i] = float32(v)
	}
	r.hist = h
	r.inFrames += int64(len(src) / r.channels)
	dst = r.produce(dst, math.MaxInt64)
	r.compact()
	return dst, nil
}

// Flush ends the stream: it treats what follows the input as silence and
// appends the remaining output frames to dst. Process then fails until
// Reset.
func (r *Resampler) Flush(dst []int16) []int16 {
	if r.flushed {
		return dst
	}
	r.hist = append(r.hist, make([]float32, r.w*r.channels)...)
	dst = r.produce(dst, r.inFrames)
	r.flushed = true
	r.compact()
	return dst
}

// produce appends output frames while the filter has its input and the
// output time is before limit (in input frames).
func (r *Resampler) produce(dst []int16, limit int64) []int16 {
	if r.exact && haveLanes8 && r.stride%8 == 0 {
		return r.produceExact(dst, limit)
	}
	ch := int64(r.channels)
	have := int64(len(r.hist)) / ch
	taps, stride := r.taps, r.stride
	for r.ip < limit {
		a := r.ip - int64(r.w) + 1 - r.histStart
		if a+int64(taps) > have {
			break
		}
		in := r.hist[a*ch : (a+int64(taps))*ch]
		var e, o float32
		if r.exact {
			e, o = dotLanes(r.table[int(r.frac)*stride:int(r.frac)*stride+stride], in)
		} else {
			x := float64(r.frac) * float64(r.rows) / float64(r.l)
			i := int(x)
			f := float32(x - float64(i))
			e0, o0 := dotLanes(r.table[i*stride:i*stride+stride], in)
			e1, o1 := dotLanes(r.table[(i+1)*stride:(i+1)*stride+stride], in)
			e, o = e0+f*(e1-e0), o0+f*(o1-o0)
		}
		if ch == 2 {
			dst = append(dst, round16(e), round16(o))
		} else {
			dst = append(dst, round16(e+o))
		}
		r.ip += r.stepInt
		r.frac += r.stepFrac
		if r.frac >= r.l {
			r.frac -= r.l
			r.ip++
		}
	}
	return dst
}

// produceExact is produce for the common case, one filter per output
// phase (44.1 to 48 kHz, say) on a machine with lanes8: each output frame
// is one lanes8 call on the filter of its phase. Kept apart and on local
// variables, the loop does per frame only that call, two roundings and
// the position's step, where the general loop also sliced the filter and
// the input (with their bounds checks) and went through dotLanes: the loop
// itself had cost more than the vector products (perf, 44.1 to 48 kHz).
func (r *Resampler) produceExact(dst []int16, limit int64) []int16 {
	ch := int64(r.channels)
	stride := int64(r.stride)
	hist, table := r.hist, r.table
	// The last output whose input is all here starts at input frame
	// len(hist)/ch - taps (relative to histStart).
	last := int64(len(hist))/ch - int64(r.taps)
	base := int64(r.w) - 1 + r.histStart // ip - base is an output's first input frame
	ip, frac := r.ip, r.frac
	l, stepInt, stepFrac := r.l, r.stepInt, r.stepFrac
	for ip < limit && ip-base <= last {
		e, o := lanes8(&table[frac*stride], &hist[(ip-base)*ch], int(stride))
		if ch == 2 {
			dst = append(dst, round16(e), round16(o))
		} else {
			dst = append(dst, round16(e+o))
		}
		ip += stepInt
		frac += stepFrac
		if frac >= l {
			frac -= l
			ip++
		}
	}
	r.ip, r.frac = ip, frac
	return dst
}

// compact drops the input frames no future output needs.
func (r *Resampler) compact() {
	ch := int64(r.channels)
	drop := r.ip - int64(r.w) + 1 - r.histStart
	drop = min(drop, int64(len(r.hist))/ch)
	if drop <= 0 {
		return
	}
	n := copy(r.hist, r.hist[drop*ch:])
	r.hist = r.hist[:n]
	r.histStart += drop
}

// round16 rounds to the nearest int16, saturating; adding ±0.5 and
// truncating is math.Round for these values, without its cost.
func round16(x float32) int16 {
	switch {
	case x >= 32766.5:
		return 32767
	case x <= -32767.5:
		return -32768
	case x >= 0:
		return int16(x + 0.5)
	}
	return int16(x - 0.5)
}
