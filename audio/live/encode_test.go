package live

import (
	"strings"
	"testing"
	"time"

	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/internal/audiotest"
)

func TestEncoder(t *testing.T) {
	tests := []struct {
		name    string
		opts    EncoderOptions
		samples int
	}{
		{"opus default", EncoderOptions{Format: mono48, FirstSeq: 1<<32 - 1}, 960},
		{"opus stereo 16 kHz 60 ms", EncoderOptions{Format: audio.Format{Rate: 16000, Channels: 2}, FrameDuration: 60 * time.Millisecond, LossPercent: -1}, 960},
		{"pcm 10 ms at 44.1 kHz", EncoderOptions{Codec: CodecPCM, Format: audio.Format{Rate: 44100, Channels: 1}, FrameDuration: 10 * time.Millisecond}, 441},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := NewEncoder(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if e.FrameSamples() != tt.samples {
				t.Fatalf("FrameSamples = %d, want %d", e.FrameSamples(), tt.samples)
			}
			f := tt.opts.Format
			for k := range 3 {
				fr, err := e.Encode(audiotest.SineAt(f, 440, 0.3, k*tt.samples, tt.samples), captured, k == 2)
				if err != nil {
					t.Fatal(err)
				}
				b, err := fr.Marshal()
				if err != nil {
					t.Fatalf("frame %d does not marshal: %v", k, err)
				}
				got, err := ParseFrame(b)
				if err != nil {
					t.Fatalf("frame %d does not parse: %v", k, err)
				}
				if got.Seq != tt.opts.FirstSeq+uint32(k) || got.Last != (k == 2) || got.Samples != tt.samples || got.Rate != f.Rate || got.Channels != f.Channels {
					t.Errorf("frame %d = %+v", k, got)
				}
			}
		})
	}
	e, _ := NewEncoder(EncoderOptions{Codec: CodecPCM, Format: mono48})
	if fr, _ := e.Encode([]int16{-2, 0x1234}[:2:2], captured, false); fr.Payload != nil {
		t.Error("Encode took a short frame")
	}
	fr, err := e.Encode(append([]int16{-2, 0x1234}, make([]int16, 958)...), captured, false)
	if err != nil || string(fr.Payload[:4]) != "\xfe\xff\x34\x12" {
		t.Errorf("PCM payload starts % x (%v); want little-endian samples", fr.Payload[:4], err)
	}
}

func TestEncoderRefuses(t *testing.T) {
	tests := []struct {
		name string
		opts EncoderOptions
		want string
	}{
		{"opus at 44.1 kHz", EncoderOptions{Format: audio.Format{Rate: 44100, Channels: 1}}, "Opus at 44100 Hz"},
		{"opus 30 ms", EncoderOptions{Format: mono48, FrameDuration: 30 * time.Millisecond}, "Opus frames of 30ms"},
		{"three channels", EncoderOptions{Format: audio.Format{Rate: 48000, Channels: 3}}, "3 channels"},
		{"low bitrate", EncoderOptions{Format: mono48, Bitrate: 100}, "bitrate 100"},
		{"pcm 96 kHz", EncoderOptions{Codec: CodecPCM, Format: audio.Format{Rate: 96000, Channels: 1}}, "PCM at 96000 Hz"},
		{"pcm 200 ms", EncoderOptions{Codec: CodecPCM, Format: mono48, FrameDuration: 200 * time.Millisecond}, "PCM frames of 200ms"},
		{"codec 9", EncoderOptions{Codec: 9, Format: mono48}, "codec codec(9)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewEncoder(tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewEncoder error %v; want %q", err, tt.want)
			}
		})
	}
}
