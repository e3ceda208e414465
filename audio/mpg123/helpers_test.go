package mpg123

import (
	"bytes"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// frameSamples is the number of samples per channel in one MPEG-1 Layer III
// frame, the unit of padding an encoder may add.
const frameSamples = 1152

// rmsDiff returns the RMS difference of two equally long sample slices.
func rmsDiff(a, b []int16) float64 {
	var sum float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		sum += d * d
	}
	return math.Sqrt(sum / float64(len(a)))
}

// decodeAll decodes a whole MP3 through a Reader and returns its samples. A
// format change midway fails the test unless allowChange is set.
func decodeAll(tb testing.TB, src io.Reader, allowChange bool) (pcm []int16, rate, channels int) {
	tb.Helper()
	r, err := NewReader(src)
	if err != nil {
		tb.Fatalf("NewReader: %v", err)
	}
	defer r.Close()
	buf := make([]int16, 4000)
	for {
		n, err := r.Read(buf)
		pcm = append(pcm, buf[:n]...)
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, ErrNewFormat) && allowChange {
			continue
		}
		if err != nil {
			tb.Fatalf("Read after %d samples: %v", len(pcm), err)
		}
	}
	rate, channels = r.Format()
	return pcm, rate, channels
}

// channel returns one channel of interleaved samples.
func channel(pcm []int16, channels, c int) []int16 {
	out := make([]int16, 0, len(pcm)/channels)
	for i := c; i < len(pcm); i += channels {
		out = append(out, pcm[i])
	}
	return out
}

// toneFrequency estimates a tone's frequency from its rising zero crossings,
// with hysteresis so that coding noise around zero does not add crossings.
func toneFrequency(x []int16, rate int) float64 {
	const h = 500 // well under the tones' amplitude of 4096, well over MP3 noise
	crossings, below, first, last := 0, false, -1, -1
	for i, v := range x {
		if v < -h {
			below = true
		}
		if v > h && below {
			below = false
			if first < 0 {
				first = i
			} else {
				crossings++
			}
			last = i
		}
	}
	if crossings == 0 {
		return 0
	}
	return float64(crossings) * float64(rate) / float64(last-first)
}

// levelDBFS returns the RMS level of x relative to a full-scale square wave.
func levelDBFS(x []int16) float64 {
	var sum float64
	for _, v := range x {
		sum += float64(v) * float64(v)
	}
	return 10 * math.Log10(sum/float64(len(x))/(32768*32768))
}

// middle drops the first and last tenth of x, where encoder fade-in and
// truncation live.
func middle(x []int16) []int16 { return x[len(x)/10 : len(x)-len(x)/10] }

// seed returns the committed fuzz seed: 0.5 s of 1 kHz, mono, 22.05 kHz,
// 32 kbit/s, with an ID3v2 tag, made by
//
//	ffmpeg -f lavfi -i sine=frequency=1000:duration=0.5:sample_rate=22050 -ac 1 -b:a 32k -metadata title="loaxa fuzz seed" testdata/seed.mp3
func seed(tb testing.TB) []byte {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "seed.mp3"))
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// feedAll pushes data through a Decoder in chunks of the sizes that chunk
// returns and decodes into buffers of the sizes that outSize returns, until
// the decoder needs more input and there is none. It records format changes
// and checks the invariants every caller relies on.
func feedAll(tb testing.TB, data []byte, chunk, outSize func() int) (pcm []int16, formats [][2]int) {
	tb.Helper()
	d, err := NewDecoder()
	if err != nil {
		tb.Fatal(err)
	}
	defer d.Close()
	in := bytes.NewReader(data)
	idle := 0
	for {
		out := make([]int16, outSize())
		n, err := d.Decode(out)
		if n < 0 || n > len(out) {
			tb.Fatalf("Decode wrote %d samples into a buffer of %d", n, len(out))
		}
		// Samples are in the format of before this call, so check them
		// against the last recorded format.
		if n > 0 && len(formats) == 0 {
			tb.Fatalf("Decode returned %d samples before any format", n)
		}
		if n > 0 && n%formats[len(formats)-1][1] != 0 {
			tb.Fatalf("Decode returned %d samples, not whole frames of %d channels", n, formats[len(formats)-1][1])
		}
		pcm = append(pcm, out[:n]...)
		switch {
		case err == nil:
			if n == 0 {
				if idle++; idle > 1000 {
					tb.Fatal("Decode made no progress in 1000 calls")
				}
				continue
			}
		case errors.Is(err, ErrNewFormat):
			rate, ch, ok := d.Format()
			if !ok || (ch != 1 && ch != 2) || rate < 8000 || rate > 48000 {
				tb.Fatalf("format after ErrNewFormat: %d Hz, %d channels, ok=%v", rate, ch, ok)
			}
			formats = append(formats, [2]int{rate, ch})
		case errors.Is(err, ErrNeedMore):
			if in.Len() == 0 {
				return pcm, formats
			}
			c := make([]byte, min(chunk(), in.Len()))
			in.Read(c)
			if err := d.Feed(c); err != nil {
				tb.Fatalf("Feed: %v", err)
			}
		case errors.Is(err, io.EOF):
			return pcm, formats
		default:
			var e *Error
			if !errors.As(err, &e) {
				tb.Fatalf("Decode error is not an *Error: %v", err)
			}
			// libmpg123 reported corrupt data; it resyncs on the next call,
			// unless it is stuck.
			if idle++; idle > 1000 {
				tb.Fatalf("Decode repeated an error 1000 times: %v", err)
			}
			continue
		}
		idle = 0
	}
}

// randomBytes returns n bytes that are the same on every run for a seed.
func randomBytes(n int, seed byte) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}
