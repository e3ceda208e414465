package dsp

import (
	"fmt"
	"io"

	"github.com/loaxa/loaxa/audio"
)

// readFrames is how much the converter reads from its source at a time:
// about 20 ms at 48 kHz, small enough to keep latency low, large enough
// that per-call overhead is negligible.
const readFrames = 1024

// maxEmptyReads is how many times in a row a source may return no samples
// and no error before Read gives up with io.ErrNoProgress.
const maxEmptyReads = 100

// Convert returns a Source that produces to from src: it mixes channels
// (stereo to mono by averaging the two channels, mono to stereo by copying)
// and converts the sample rate with a Resampler. If src already has format
// to, Convert returns src itself. If either format is not valid, Read
// returns an error that says which. Closing the result closes src.
func Convert(src audio.Source, to audio.Format) audio.Source {
	from := src.Format()
	if from == to {
		return src
	}
	c := &converter{src: src, from: from, to: to}
	switch {
	case !from.Valid():
		c.err = fmt.Errorf("dsp: cannot convert from %v: rate must be 8000–192000 Hz and channels 1 or 2", from)
	case !to.Valid():
		c.err = fmt.Errorf("dsp: cannot convert to %v: rate must be 8000–192000 Hz and channels 1 or 2", to)
	case from.Rate != to.Rate:
		c.rs, c.err = NewResampler(from.Rate, to.Rate, min(from.Channels, to.Channels))
	}
	c.in = make([]int16, readFrames*max(from.Channels, 1))
	return c
}

type converter struct {
	src      audio.Source
	from, to audio.Format
	rs       *Resampler // nil when the rates agree

	in    []int16 // read from src
	mixed []int16 // after downmixing
	out   []int16 // converted, not yet read
	off   int     // out[off:] is pending
	err   error   // returned once out is drained
}

func (c *converter) Format() audio.Format { return c.to }

func (c *converter) Close() error { return c.src.Close() }

func (c *converter) Read(p []int16) (int, error) {
	want := len(p) - len(p)%c.to.Channels
	if want == 0 {
		return 0, nil
	}
	for empty := 0; c.off == len(c.out); empty++ {
		if c.err != nil {
			return 0, c.err
		}
		if empty == maxEmptyReads {
			return 0, fmt.Errorf("dsp: convert: source returned no samples %d times: %w", empty, io.ErrNoProgress)
		}
		c.fill()
	}
	n := copy(p[:want], c.out[c.off:])
	c.off += n
	return n, nil
}

// fill reads once from the source and converts what it got.
func (c *converter) fill() {
	c.out, c.off = c.out[:0], 0
	n, err := c.src.Read(c.in)
	if n%c.from.Channels != 0 && err == nil {
		err = fmt.Errorf("dsp: convert: source returned %d samples, not whole %d-channel frames", n, c.from.Channels)
	}
	n -= n % c.from.Channels
	block := c.in[:n]
	if c.to.Channels < c.from.Channels {
		c.mixed = MixChannels(c.mixed[:0], block, c.from.Channels, c.to.Channels)
		block = c.mixed
	}
	out := c.out
	if c.rs != nil {
		// block holds whole frames of the resampler's channel count, so
		// Process cannot fail.
		out, _ = c.rs.Process(out, block)
		if err == io.EOF {
			out = c.rs.Flush(out)
		}
	} else {
		out = append(out, block...)
	}
	if c.to.Channels > c.from.Channels {
		c.mixed = MixChannels(c.mixed[:0], out, c.from.Channels, c.to.Channels)
		out = append(out[:0], c.mixed...)
	}
	c.out = out
	if err != nil {
		c.err = err
	}
}

// MixChannels appends src (interleaved frames of from channels) to dst as
// frames of to channels. Stereo to mono averages the two channels; mono to
// stereo copies the one channel to both. Only 1 and 2 channels are handled;
// equal counts copy.
func MixChannels(dst, src []int16, from, to int) []int16 {
	switch {
	case from == 2 && to == 1:
		for i := 0; i+1 < len(src); i += 2 {
			dst = append(dst, int16((int32(src[i])+int32(src[i+1]))>>1))
		}
	case from == 1 && to == 2:
		for _, s := range src {
			dst = append(dst, s, s)
		}
	default:
		dst = append(dst, src...)
	}
	return dst
}
