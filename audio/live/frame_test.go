package live

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// celt20 is the table-of-contents byte of a one-frame 20 ms CELT packet
// (config 31, code 0).
const celt20 = 31<<3 | 0

var captured = time.Date(2025, 11, 25, 10, 0, 0, 123456000, time.UTC)

func pcmFrame(seq uint32, samples []int16, channels, rate int) Frame {
	p := make([]byte, 2*len(samples))
	for i, s := range samples {
		binary.LittleEndian.PutUint16(p[2*i:], uint16(s))
	}
	return Frame{Codec: CodecPCM, Channels: channels, Seq: seq, Capture: captured, Rate: rate, Samples: len(samples) / channels, Payload: p}
}

func TestFrameRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		f    Frame
	}{
		{"opus 20 ms mono", Frame{Codec: CodecOpus, Channels: 1, Seq: 7, Capture: captured, Rate: 48000, Samples: 960, Payload: []byte{celt20, 1, 2, 3}}},
		{"opus last, seq at wrap", Frame{Codec: CodecOpus, Channels: 2, Last: true, Seq: 1<<32 - 1, Capture: captured, Rate: 16000, Samples: 320, Payload: []byte{celt20}}},
		{"pcm stereo", pcmFrame(0, []int16{1, -1, 32767, -32768}, 2, 44100)},
		{"pcm 120 ms at 8 kHz", pcmFrame(42, make([]int16, 960), 1, 8000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.f.Marshal()
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if len(b) != HeaderSize+len(tt.f.Payload) || b[0] != Version {
				t.Fatalf("Marshal = % x", b)
			}
			got, err := ParseFrame(b)
			if err != nil {
				t.Fatalf("ParseFrame: %v", err)
			}
			if !got.Capture.Equal(tt.f.Capture) {
				t.Errorf("capture %v, want %v", got.Capture, tt.f.Capture)
			}
			got.Capture, tt.f.Capture = time.Time{}, time.Time{}
			if !bytes.Equal(got.Payload, tt.f.Payload) {
				t.Errorf("payload % x, want % x", got.Payload, tt.f.Payload)
			}
			got.Payload, tt.f.Payload = nil, nil
			if !reflect.DeepEqual(got, tt.f) {
				t.Errorf("ParseFrame = %+v, want %+v", got, tt.f)
			}
		})
	}
}

// The header bytes are exactly those of the documented layout.
func TestFrameLayout(t *testing.T) {
	f := Frame{Codec: CodecOpus, Channels: 1, Last: true, Seq: 0x01020304, Capture: time.UnixMicro(0x0a0b0c0d0e0f), Rate: 48000, Samples: 960, Payload: []byte{celt20, 0xaa}}
	b, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{
		1, 1, 1, 1, // version, codec, channels, flags
		1, 2, 3, 4, // seq
		0, 0, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, // capture µs
		0, 0, 0xbb, 0x80, // 48000
		0x03, 0xc0, // 960
		0, 0, // reserved
		celt20, 0xaa,
	}
	if !bytes.Equal(b, want) {
		t.Errorf("Marshal =\n% x\nwant\n% x", b, want)
	}
}

func TestParseFrameRefuses(t *testing.T) {
	good := func() []byte {
		b, err := Frame{Codec: CodecOpus, Channels: 1, Seq: 1, Capture: captured, Rate: 48000, Samples: 960, Payload: []byte{celt20, 9}}.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	goodPCM := func() []byte {
		b, err := pcmFrame(1, make([]int16, 480), 1, 48000).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	set := func(b []byte, off int, v ...byte) []byte { copy(b[off:], v); return b }
	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "0 bytes"},
		{"short header", good()[:23], "23 bytes"},
		{"version 2", set(good(), 0, 2), "version 2"},
		{"codec 0", set(good(), 1, 0), "codec 0"},
		{"codec 3", set(good(), 1, 3), "codec 3"},
		{"0 channels", set(good(), 2, 0), "0 channels"},
		{"3 channels", set(good(), 2, 3), "3 channels"},
		{"unknown flag", set(good(), 3, 2), "unknown flags"},
		{"reserved", set(good(), 23, 1), "reserved"},
		{"capture out of range", set(good(), 8, 0x80), "capture time"},
		{"opus at 44100", set(good(), 16, 0, 0, 0xac, 0x44), "Opus at 44100 Hz"},
		{"rate out of range", set(good(), 16, 0x80), "out of range"},
		{"zero samples", set(good(), 20, 0, 0), "0 samples"},
		{"opus header lies", set(good(), 20, 0x01, 0xe0), "header says 480 samples per channel, the Opus packet holds 960"},
		{"opus no payload", good()[:24], "Opus packet of 0 bytes"},
		{"opus too long", append(good(), make([]byte, MaxOpusPayload)...), "Opus packet of 4002 bytes"},
		{"opus code 3 without count", set(good()[:25], 24, celt20|3), "without its frame-count byte"},
		{"opus code 3 zero frames", set(good(), 24, celt20|3, 0), "zero frames"},
		{"opus 160 ms", set(good(), 20, 0x1e, 0x00, 0, 0, celt20|3, 8), "longer than 120ms"},
		{"opus packet over 120 ms", set(good(), 24, celt20|3, 7), "at most 120 ms"},
		{"pcm short payload", goodPCM()[:HeaderSize+959], "PCM payload of 959 bytes"},
		{"pcm long payload", append(goodPCM(), 0, 0), "PCM payload of 962 bytes"},
		{"pcm at 96 kHz", set(goodPCM(), 16, 0, 1, 0x77, 0), "PCM at 96000 Hz"},
		{"pcm at 4 kHz", set(goodPCM(), 16, 0, 0, 0x0f, 0xa0), "PCM at 4000 Hz"},
		{"pcm over 120 ms", set(goodPCM(), 16, 0, 0, 0x1f, 0x40, 0x03, 0xc1), "longer than 120ms"}, // 961 samples at 8000 Hz
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseFrame(tt.b)
			if err == nil {
				t.Fatalf("ParseFrame(% x) = %+v, want an error", tt.b, f)
			}
			if !errors.Is(err, ErrFrame) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseFrame error %q; want ErrFrame and %q", err, tt.want)
			}
		})
	}
}

func TestMarshalRefuses(t *testing.T) {
	tests := []struct {
		name string
		f    Frame
		want string
	}{
		{"zero capture", Frame{Codec: CodecPCM, Channels: 1, Rate: 8000, Samples: 1, Payload: []byte{0, 0}}, "before the Unix epoch"},
		{"too many samples", Frame{Codec: CodecPCM, Channels: 1, Capture: captured, Rate: 48000, Samples: 70000, Payload: make([]byte, 140000)}, "70000 samples"},
		{"opus mismatch", Frame{Codec: CodecOpus, Channels: 1, Capture: captured, Rate: 48000, Samples: 480, Payload: []byte{celt20}}, "header says 480"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.f.Marshal(); err == nil || !errors.Is(err, ErrFrame) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Marshal error %v; want ErrFrame and %q", err, tt.want)
			}
		})
	}
}

func TestOpusPacketSamples(t *testing.T) {
	tests := []struct {
		p    []byte
		rate int
		want int
	}{
		{[]byte{0 << 3}, 48000, 480},           // SILK NB 10 ms
		{[]byte{3 << 3}, 48000, 2880},          // SILK NB 60 ms
		{[]byte{9<<3 | 1}, 16000, 640},         // SILK WB 20 ms × 2
		{[]byte{12 << 3}, 48000, 480},          // hybrid 10 ms
		{[]byte{15<<3 | 2}, 24000, 960},        // hybrid 20 ms × 2
		{[]byte{16 << 3}, 48000, 120},          // CELT 2.5 ms
		{[]byte{16 << 3}, 8000, 20},            // CELT 2.5 ms at 8 kHz
		{[]byte{31<<3 | 3, 6}, 48000, 5760},    // CELT 20 ms × 6 = 120 ms
		{[]byte{19<<3 | 3, 0x85}, 12000, 1200}, // CELT 20 ms × 5, padding bit set
	}
	for _, tt := range tests {
		got, err := opusPacketSamples(tt.p, tt.rate)
		if err != nil || got != tt.want {
			t.Errorf("opusPacketSamples(% x, %d) = %d, %v; want %d", tt.p, tt.rate, got, err, tt.want)
		}
	}
}

// FuzzParseFrame: ParseFrame never panics; whatever it accepts satisfies
// the format's rules and marshals back to the same bytes.
func FuzzParseFrame(f *testing.F) {
	for _, fr := range []Frame{
		{Codec: CodecOpus, Channels: 1, Seq: 7, Capture: captured, Rate: 48000, Samples: 960, Payload: []byte{celt20, 1, 2, 3}},
		{Codec: CodecOpus, Channels: 2, Last: true, Seq: 1<<32 - 1, Capture: captured, Rate: 8000, Samples: 960, Payload: []byte{31<<3 | 3, 6, 0}},
		pcmFrame(3, []int16{1, 2, 3, 4}, 2, 16000),
	} {
		b, err := fr.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add(make([]byte, HeaderSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := ParseFrame(b)
		if err != nil {
			if !errors.Is(err, ErrFrame) {
				t.Fatalf("error %v does not wrap ErrFrame", err)
			}
			return
		}
		if fr.Channels != 1 && fr.Channels != 2 || fr.Samples <= 0 || fr.Duration() > MaxFrameDuration || fr.Duration() <= 0 {
			t.Fatalf("accepted %+v", fr)
		}
		switch fr.Codec {
		case CodecOpus:
			if len(fr.Payload) == 0 || len(fr.Payload) > MaxOpusPayload {
				t.Fatalf("accepted an Opus payload of %d bytes", len(fr.Payload))
			}
		case CodecPCM:
			if len(fr.Payload) != 2*fr.Samples*fr.Channels {
				t.Fatalf("accepted a PCM payload of %d bytes for %+v", len(fr.Payload), fr)
			}
		default:
			t.Fatalf("accepted codec %v", fr.Codec)
		}
		out, err := fr.Marshal()
		if err != nil {
			t.Fatalf("Marshal of an accepted frame: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("round trip changed the frame:\n% x\n% x", b, out)
		}
	})
}
