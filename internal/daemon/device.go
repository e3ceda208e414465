package daemon

import (
	"errors"
	"log/slog"
	"time"

	"github.com/loaxa/loaxa/agent/config"
	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/audio/guard"
	"github.com/loaxa/loaxa/hal"
	"github.com/loaxa/loaxa/hal/portaudio"
)

// openDevice opens the real output device through PortAudio, behind a
// guard (audio/guard) that gives every call into the driver a deadline
// and reopens the device when it fails or wedges: a stuck USB sound card
// must not stop the agent (issue 7, finding 7). No device is not an error
// (the pole runs without audio and says why); a device that exists but
// fails to open is.
func openDevice(cfg *config.Config, f audio.Format, log *slog.Logger) (*guard.Sink, string, error) {
	buffer := time.Duration(cfg.Audio.BufferMS) * time.Millisecond
	plog := log.With("component", "portaudio")
	s, err := guard.Open(guard.Options{
		Open: func() (audio.Sink, error) {
			s, err := portaudio.Open(portaudio.Options{Device: cfg.Audio.Device, Format: f, Latency: buffer, Logger: plog})
			if err != nil {
				return nil, err // a nil *portaudio.Sink is not a nil audio.Sink
			}
			return s, nil
		},
		Log: log.With("component", "audio-device"),
	})
	if errors.Is(err, hal.ErrAbsent) {
		return nil, err.Error(), nil
	}
	if err != nil {
		return nil, "", err
	}
	log.Info("audio output", "device", s.String(), "format", f.String(), "latency", s.Latency())
	return s, "", nil
}
