package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/loaxa/loaxa/agent"
	"github.com/loaxa/loaxa/agent/config"
	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/audio/dsp"
	"github.com/loaxa/loaxa/audio/live"
	"github.com/loaxa/loaxa/audio/media"
	"github.com/loaxa/loaxa/audio/stream"
	"github.com/loaxa/loaxa/audio/tone"
	"github.com/loaxa/loaxa/internal/clock"
	"github.com/loaxa/loaxa/sim"
)

// AudioParts is the audio side of a pole: the sink the player writes to,
// the live-audio hub, and the opener of play sources.
type AudioParts struct {
	Sink audio.Sink
	Hub  *live.Hub
	Open agent.SourceOpener
	// Device reports the health of the real output device (nil for the
	// simulated speaker, which cannot wedge).
	Device agent.DeviceHealth
}

// Audio builds the output chain. A missing device is not fatal: the agent
// runs without audio and answers play with unsupported (missing says why).
// onLive receives the live hub's events (a channel gone silent, bad frames).
// touch records a cached file's play for the cache's eviction order (nil:
// not recorded).
func Audio(cfg *config.Config, useSim bool, clk clock.Clock, log *slog.Logger, onLive func(live.Event), touch func(name string)) (parts AudioParts, missing string, err error) {
	f := audio.Format{Rate: cfg.Audio.Rate, Channels: cfg.Audio.Channels}
	if useSim {
		// The simulated speaker writes what it plays to a WAV file that a
		// person can listen to and a test can analyse.
		s, err := sim.NewAudioSink(f, sim.AudioSinkOptions{
			Clock:  clk,
			Path:   filepath.Join(cfg.DataDir, "sim", sim.SpeakerFile),
			Buffer: time.Duration(cfg.Audio.BufferMS) * time.Millisecond,
			// The file holds everything and is what people and tests
			// look at; memory keeps none (a pole's RAM and CPU are for
			// the agent, not for a second copy of the recording).
			Keep:   -1,
			Logger: log.With("component", "sim-speaker"),
		})
		if err != nil {
			return parts, "", fmt.Errorf("simulated speaker: %w", err)
		}
		parts.Sink = s
	} else {
		sink, why, err := openDevice(cfg, f, log)
		if err != nil {
			return parts, "", err
		}
		if sink == nil {
			return parts, why, nil
		}
		parts.Sink, parts.Device = sink, sink
	}
	parts.Hub = live.NewHub(live.Options{
		Clock:   clk,
		Logger:  log.With("component", "live"),
		Target:  time.Duration(cfg.Audio.LiveTargetMS) * time.Millisecond,
		OnEvent: onLive,
	})
	parts.Open = Opener(cfg, parts.Hub, clk, log, touch)
	return parts, "", nil
}

// Opener returns the function that turns a play source into PCM in the
// player's format: test tones, cached media files, HTTP streams and live
// channels. Conversions of rate and channels happen here, never by
// dropping samples.
func Opener(cfg *config.Config, hub *live.Hub, clk clock.Clock, log *slog.Logger, touch func(name string)) agent.SourceOpener {
	streamOpts := stream.Options{
		Clock:          clk,
		Logger:         log.With("component", "stream"),
		ConnectTimeout: time.Duration(cfg.Audio.StreamConnectS) * time.Second,
		StallTimeout:   time.Duration(cfg.Audio.StreamStallS) * time.Second,
		// The byte-rate bound is measured over the stall timeout too:
		// stream_stall_s bounds both a silent and a trickling server.
		SlowWindow: time.Duration(cfg.Audio.StreamStallS) * time.Second,
	}
	mediaDir := filepath.Join(cfg.DataDir, "media")
	return func(ctx context.Context, req agent.SourceRequest) (audio.Source, error) {
		scheme, rest, _ := strings.Cut(req.Source, ":")
		switch scheme {
		case "tone":
			hz, err := strconv.ParseFloat(rest, 64)
			if err != nil {
				return nil, fmt.Errorf("tone %q: %w", rest, err)
			}
			return tone.New(hz, req.Format, 0.5), nil
		case "file":
			src, err := openMedia(mediaDir, rest, req.Format)
			if err == nil && touch != nil {
				touch(rest)
			}
			return src, err
		case "http", "https":
			o := streamOpts
			o.OnEvent = func(e stream.Event) { notifyStream(req, e) }
			s, err := stream.Open(ctx, req.Source, o)
			if err != nil {
				return nil, err
			}
			if t := s.Title(); t != "" {
				req.Notify("title", map[string]any{"title": t})
			}
			return dsp.Convert(s, req.Format), nil
		case "live":
			if hub == nil {
				return nil, fmt.Errorf("live audio is not available on this pole")
			}
			return hub.OpenWith(ctx, rest, req.Format, live.OpenOptions{Backlog: req.Backlog, Delay: req.Sync}), nil
		}
		return nil, fmt.Errorf("unknown source scheme %q", scheme)
	}
}

// notifyStream turns a stream's connection news into agent events.
func notifyStream(req agent.SourceRequest, e stream.Event) {
	data := map[string]any{"url": e.URL, "live": e.Live}
	if e.Err != nil {
		data["error"] = e.Err.Error()
		data["reason"] = stream.Reason(e.Err)
	}
	switch e.Kind {
	case stream.EventTitle:
		req.Notify("title", map[string]any{"title": e.Title})
		return
	case stream.EventReconnecting:
		data["attempt"] = e.Attempt
		data["delay_ms"] = e.Delay.Milliseconds()
	}
	req.Notify("stream."+string(e.Kind), data)
}

// openMedia opens a cached file (MP3 or WAV, told apart by content) in the
// output format.
func openMedia(dir, name string, f audio.Format) (audio.Source, error) {
	src, err := media.Open(dir, name)
	if err != nil {
		return nil, err
	}
	return dsp.Convert(src, f), nil
}
