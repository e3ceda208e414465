//go:build !cgo

package portaudio

import (
	"errors"
	"fmt"
	"time"

	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/hal"
)

// errNoCgo is why nothing works in a build without cgo.
var errNoCgo = fmt.Errorf("portaudio: this build has no cgo, so no PortAudio: %w", hal.ErrAbsent)

// ErrWedged is wrapped by Open's error while a write of another Sink is
// stuck in the driver (never, without cgo).
var ErrWedged = errors.New("the audio driver is stuck (a write that does not return, or an audio system that stopped mid-play); PortAudio cannot open another stream in this process: restart the agent")

// Sink is the PortAudio output; without cgo it cannot be opened.
type Sink struct{}

// Open always fails without cgo, with an error wrapping hal.ErrAbsent.
func Open(Options) (*Sink, error) { return nil, errNoCgo }

// Devices always fails without cgo, with an error wrapping hal.ErrAbsent.
func Devices() ([]string, error) { return nil, errNoCgo }

// String names the sink.
func (*Sink) String() string { return "PortAudio (not built in)" }

// Format returns the zero format.
func (*Sink) Format() audio.Format { return audio.Format{} }

// Write fails.
func (*Sink) Write([]int16) error { return errNoCgo }

// Drain fails.
func (*Sink) Drain() error { return errNoCgo }

// Underruns returns 0.
func (*Sink) Underruns() int { return 0 }

// Latency returns 0.
func (*Sink) Latency() time.Duration { return 0 }

// Close does nothing.
func (*Sink) Close() error { return nil }
