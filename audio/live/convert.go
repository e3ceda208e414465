package live

import (
	"fmt"

	"github.com/loaxa/loaxa/audio"
)

// converter turns decoded PCM into the output format, chunk by chunk.
type converter struct {
	from, to audio.Format
}

func newConverter(from, to audio.Format) (*converter, error) {
	if from.Rate != to.Rate {
		return nil, fmt.Errorf("live: cannot yet convert %v to %v", from, to)
	}
	return &converter{from: from, to: to}, nil
}

// process appends src, converted, to dst.
func (c *converter) process(dst, src []int16) []int16 {
	switch {
	case c.from.Channels == 2 && c.to.Channels == 1:
		for i := 0; i+1 < len(src); i += 2 {
			dst = append(dst, int16((int32(src[i])+int32(src[i+1]))>>1))
		}
	case c.from.Channels == 1 && c.to.Channels == 2:
		for _, s := range src {
			dst = append(dst, s, s)
		}
	default:
		dst = append(dst, src...)
	}
	return dst
}
