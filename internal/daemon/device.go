package daemon

import (
	"errors"
	"log/slog"
	"time"

	"github.com/loaxa/loaxa/agent/config"
	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/hal"
	"github.com/loaxa/loaxa/hal/portaudio"
)

// openDevice opens the real output device through PortAudio. No device is
// not an error (the pole runs without audio and says why); a device that
// exists but fails to open is.
func openDevice(cfg *config.Config, f audio.Format, log *slog.Logger) (audio.Sink, string, error) {
	s, err := portaudio.Open(portaudio.Options{
		Device:  cfg.Audio.Device,
		Format:  f,
		Latency: time.Duration(cfg.Audio.BufferMS) * time.Millisecond,
		Logger:  log.With("component", "portaudio"),
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
