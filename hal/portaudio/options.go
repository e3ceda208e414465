package portaudio

import (
	"log/slog"
	"time"

	"github.com/loaxa/loaxa/audio"
)

// DefaultFramesPerBuffer is the size of one transfer to the device when
// Options does not say: about 43 ms at 48 kHz, a compromise between
// latency (an emergency should be heard at once) and the wake-ups a small
// ARM board can afford. With the player's 40 ms batches each batch is one
// transfer and one wake-up, and the device then holds 35–85 ms (on JACK,
// whose queue keeps a transfer at each write: docs/benchmarks.md), as
// the simulated speaker does with audio.buffer_ms at its default: the
// emergency and live latencies measured through it hold for this output. 1,024 frames
// held 21–43 ms but cost two wake-ups per batch, 40 % more CPU on JACK
// (docs/benchmarks.md).
const DefaultFramesPerBuffer = 2048

// Options configures the output.
type Options struct {
	// Device names the output device: "" for PortAudio's default output,
	// or a device name as PortAudio lists it (see Devices), or a fragment
	// of exactly one such name (case-insensitive), e.g. "hw:1,0".
	Device string
	// Format is what the stream plays. The pipeline converts everything
	// to it.
	Format audio.Format
	// FramesPerBuffer is the number of frames per transfer to the device;
	// 0 means DefaultFramesPerBuffer.
	FramesPerBuffer int
	// Latency is the output latency asked of PortAudio; 0 means the
	// device's default high latency, which rides out a busy CPU best.
	Latency time.Duration
	// Logger receives underruns; nil discards them.
	Logger *slog.Logger
}
