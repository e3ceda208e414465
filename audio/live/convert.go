package live

import (
	"fmt"

	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/audio/dsp"
)

// converter turns a talk's decoded PCM into the output format, chunk by
// chunk. It pushes (rather than pulls, as dsp.Convert does) because the
// Source decides chunk by chunk what to play. Channels are mixed on the
// side with fewer of them, so the resampler does the least work.
type converter struct {
	from, to audio.Format
	rs       *dsp.Resampler // nil when the rates agree
	tmp      []int16
}

func newConverter(from, to audio.Format) (*converter, error) {
	c := &converter{from: from, to: to}
	if from.Rate != to.Rate {
		rs, err := dsp.NewResampler(from.Rate, to.Rate, min(from.Channels, to.Channels))
		if err != nil {
			return nil, fmt.Errorf("live: convert %v to %v: %w", from, to, err)
		}
		c.rs = rs
	}
	return c, nil
}

// process appends src, converted, to dst. The resampler holds back a few
// milliseconds of lookahead, which the next chunk releases; since a Source
// plays on with concealment or silence, nothing stays held for long.
func (c *converter) process(dst, src []int16) []int16 {
	if c.rs == nil {
		return dsp.MixChannels(dst, src, c.from.Channels, c.to.Channels)
	}
	ch := c.from.Channels
	if c.to.Channels < ch {
		c.tmp = dsp.MixChannels(c.tmp[:0], src, ch, c.to.Channels)
		src, ch = c.tmp, c.to.Channels
	}
	if c.to.Channels == ch {
		out, _ := c.rs.Process(dst, src) // whole frames, never flushed: cannot fail
		return out
	}
	c.tmp, _ = c.rs.Process(c.tmp[:0], src)
	return dsp.MixChannels(dst, c.tmp, ch, c.to.Channels)
}
