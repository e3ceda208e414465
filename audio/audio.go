package audio

import (
	"fmt"
	"time"
)

// Format describes interleaved signed 16-bit PCM.
type Format struct {
	Rate     int // samples per second per channel, e.g. 48000
	Channels int // 1 (mono) or 2 (stereo)
}

func (f Format) String() string { return fmt.Sprintf("%d Hz × %d ch", f.Rate, f.Channels) }

// Valid reports whether f can be processed.
func (f Format) Valid() bool {
	return f.Rate >= 8000 && f.Rate <= 192000 && (f.Channels == 1 || f.Channels == 2)
}

// Source produces PCM. Read fills p with whole frames (len(p) is a
// multiple of Channels) and returns the number of samples written; io.EOF
// ends the source. A Source is used by one goroutine at a time.
type Source interface {
	Format() Format
	Read(p []int16) (n int, err error)
	Close() error
}

// Sink plays PCM. Write blocks until the samples are queued for the
// device (that is the pipeline's clock). A Sink is used by one goroutine.
type Sink interface {
	String() string
	Format() Format
	Write(p []int16) error
	Close() error
}

// TimedSource is a Source that follows the clock rather than the sink: a
// live channel, whose audio exists only as it arrives. A player must not
// read it ahead into a queue (that latency adds to the source's own);
// it reads it at the moment it writes to the sink, saying when the first
// sample will be heard. ReadTimed never blocks.
type TimedSource interface {
	Source
	// ReadTimed fills p with audio whose first sample will leave the
	// loudspeaker at the given time. It returns 0 and a nil error while
	// the source has nothing to play yet (a jitter buffer filling): that
	// silence is not part of the item. Once it has played, it fills p
	// whole (concealment or silence where audio is missing) until it ends.
	ReadTimed(p []int16, at time.Time) (int, error)
}

// PlayoutClock is implemented by sinks that know when the next sample
// written to them will leave the loudspeaker (the simulated speaker knows
// exactly). Sinks that do not may report their Latency instead.
type PlayoutClock interface {
	NextPlayout() time.Time
}
