package audio

import "fmt"

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
