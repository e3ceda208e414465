package daemon

import (
	"fmt"
	"log/slog"

	"github.com/loaxa/loaxa/agent/config"
	"github.com/loaxa/loaxa/audio"
)

// openDevice opens the real output device.
func openDevice(cfg *config.Config, f audio.Format, log *slog.Logger) (audio.Sink, string, error) {
	return nil, "the PortAudio sink is not part of this build yet", nil
}

func openMedia(dir, name string, f audio.Format) (audio.Source, error) {
	return nil, fmt.Errorf("file:%s: the media cache is not part of this build yet", name)
}
