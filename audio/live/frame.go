package live

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// Version is the only frame version this package reads and writes.
const Version = 1

// HeaderSize is the size of the fixed frame header; the payload follows it.
const HeaderSize = 24

// Limits of one frame.
const (
	// MaxFrameDuration is the longest audio one frame may carry: the
	// longest Opus packet (RFC 6716) is 120 ms, and PCM frames are held
	// to the same bound so one lost frame never costs more.
	MaxFrameDuration = 120 * time.Millisecond
	// MaxOpusPayload bounds an Opus packet: 120 ms at Opus's top rate of
	// 510 kbit/s is about 7.6 kB, but live speech at 16–64 kbit/s needs a
	// few hundred bytes, so 4000 leaves ample room and rejects junk early.
	MaxOpusPayload = 4000
	// MinPCMRate and MaxPCMRate bound the rate of a PCM frame: live
	// speech needs no more, and the bound keeps a 120 ms frame under
	// 24 kB.
	MinPCMRate = 8000
	MaxPCMRate = 48000
)

// Codec says how a frame's payload is encoded.
type Codec uint8

// The codecs of the frame format.
const (
	CodecOpus Codec = 1 // one Opus packet (RFC 6716)
	CodecPCM  Codec = 2 // signed 16-bit little-endian interleaved samples
)

func (c Codec) String() string {
	switch c {
	case CodecOpus:
		return "opus"
	case CodecPCM:
		return "pcm"
	}
	return fmt.Sprintf("codec(%d)", uint8(c))
}

// flagLast marks the last frame of a talk.
const flagLast = 0x01

// Frame is one live-audio frame as it travels on loaxa/v1/live/{channel}.
// The package comment gives the byte layout.
type Frame struct {
	Codec    Codec
	Channels int  // 1 or 2
	Last     bool // the last frame of the talk (end of transmission)
	Seq      uint32
	// Capture is when the frame's first sample was captured, with
	// microsecond resolution; it must not be before the Unix epoch.
	Capture time.Time
	Rate    int // samples per second per channel
	Samples int // samples per channel in this frame
	// Payload is one Opus packet or the PCM samples. ParseFrame returns a
	// Payload that aliases its input.
	Payload []byte
}

// Duration is how much audio the frame carries.
func (f Frame) Duration() time.Duration {
	if f.Rate <= 0 {
		return 0
	}
	return time.Duration(f.Samples) * time.Second / time.Duration(f.Rate)
}

// ErrFrame is wrapped by every error of ParseFrame and Marshal, so a caller
// can tell a bad frame from other failures.
var ErrFrame = errors.New("live: bad frame")

func frameErr(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrFrame}, a...)...)
}

// Marshal encodes the frame. It refuses, with an error wrapping ErrFrame,
// any frame that ParseFrame would refuse, so a sender cannot put on the
// wire what receivers drop.
func (f Frame) Marshal() ([]byte, error) {
	if f.Capture.Before(time.Unix(0, 0)) {
		return nil, frameErr("capture time %v is before the Unix epoch", f.Capture)
	}
	if err := f.check(); err != nil {
		return nil, err
	}
	b := make([]byte, HeaderSize+len(f.Payload))
	b[0] = Version
	b[1] = byte(f.Codec)
	b[2] = byte(f.Channels)
	if f.Last {
		b[3] = flagLast
	}
	binary.BigEndian.PutUint32(b[4:], f.Seq)
	binary.BigEndian.PutUint64(b[8:], uint64(f.Capture.UnixMicro()))
	binary.BigEndian.PutUint32(b[16:], uint32(f.Rate))
	binary.BigEndian.PutUint16(b[20:], uint16(f.Samples))
	// b[22:24], reserved, stays 0.
	copy(b[HeaderSize:], f.Payload)
	return b, nil
}

// ParseFrame decodes one frame strictly: a frame that breaks any rule of
// the format (version, codec, channels, flags, reserved bytes, rate,
// duration, payload size) is refused with an error wrapping ErrFrame that
// says which rule. The returned Payload aliases b.
func ParseFrame(b []byte) (Frame, error) {
	if len(b) < HeaderSize {
		return Frame{}, frameErr("%d bytes; a frame has a %d-byte header", len(b), HeaderSize)
	}
	if b[0] != Version {
		return Frame{}, frameErr("version %d; expected %d", b[0], Version)
	}
	if b[3]&^flagLast != 0 {
		return Frame{}, frameErr("unknown flags %#02x; only bit 0 (last frame) is defined", b[3])
	}
	if r := binary.BigEndian.Uint16(b[22:]); r != 0 {
		return Frame{}, frameErr("reserved bytes are %#04x; expected 0", r)
	}
	us := binary.BigEndian.Uint64(b[8:])
	if us > math.MaxInt64 {
		return Frame{}, frameErr("capture time %d µs is out of range", us)
	}
	rate := binary.BigEndian.Uint32(b[16:])
	if rate > math.MaxInt32 {
		return Frame{}, frameErr("sample rate %d Hz is out of range", rate)
	}
	f := Frame{
		Codec:    Codec(b[1]),
		Channels: int(b[2]),
		Last:     b[3]&flagLast != 0,
		Seq:      binary.BigEndian.Uint32(b[4:]),
		Capture:  time.UnixMicro(int64(us)),
		Rate:     int(rate),
		Samples:  int(binary.BigEndian.Uint16(b[20:])),
		Payload:  b[HeaderSize:],
	}
	if err := f.check(); err != nil {
		return Frame{}, err
	}
	return f, nil
}

// check applies the rules shared by Marshal and ParseFrame.
func (f Frame) check() error {
	if f.Channels != 1 && f.Channels != 2 {
		return frameErr("%d channels; expected 1 or 2", f.Channels)
	}
	if f.Samples <= 0 || f.Samples > math.MaxUint16 {
		return frameErr("%d samples per channel; expected 1–65535", f.Samples)
	}
	switch f.Codec {
	case CodecOpus:
		if !opusRate(f.Rate) {
			return frameErr("Opus at %d Hz; expected 8000, 12000, 16000, 24000 or 48000", f.Rate)
		}
	case CodecPCM:
		if f.Rate < MinPCMRate || f.Rate > MaxPCMRate {
			return frameErr("PCM at %d Hz; expected %d–%d", f.Rate, MinPCMRate, MaxPCMRate)
		}
	default:
		return frameErr("codec %d; expected 1 (Opus) or 2 (PCM)", uint8(f.Codec))
	}
	// Integer test of Samples/Rate ≤ 120 ms, exact for every rate.
	if int64(f.Samples)*1000 > int64(f.Rate)*MaxFrameDuration.Milliseconds() {
		return frameErr("%d samples at %d Hz is longer than %v", f.Samples, f.Rate, MaxFrameDuration)
	}
	switch f.Codec {
	case CodecOpus:
		if len(f.Payload) == 0 || len(f.Payload) > MaxOpusPayload {
			return frameErr("Opus packet of %d bytes; expected 1–%d", len(f.Payload), MaxOpusPayload)
		}
		n, err := opusPacketSamples(f.Payload, f.Rate)
		if err != nil {
			return frameErr("%v", err)
		}
		if n != f.Samples {
			return frameErr("header says %d samples per channel, the Opus packet holds %d", f.Samples, n)
		}
	case CodecPCM:
		if want := f.Samples * f.Channels * 2; len(f.Payload) != want {
			return frameErr("PCM payload of %d bytes; %d samples × %d channels need %d", len(f.Payload), f.Samples, f.Channels, want)
		}
	}
	return nil
}

// opusRate reports whether libopus can decode at rate.
func opusRate(rate int) bool {
	switch rate {
	case 8000, 12000, 16000, 24000, 48000:
		return true
	}
	return false
}

// opusPacketSamples returns how many samples per channel the Opus packet
// holds at rate, from its table-of-contents byte (RFC 6716 section 3.1), so
// that a frame whose header lies about its length is refused before any
// decoder sees it. It does not check the packet's inner frame lengths;
// the decoder does.
func opusPacketSamples(p []byte, rate int) (int, error) {
	if len(p) == 0 {
		return 0, errors.New("empty Opus packet")
	}
	toc := p[0]
	config := int(toc >> 3)
	// Frame length in units of 2.5 ms.
	var units int
	switch {
	case config < 12: // SILK-only: 10, 20, 40, 60 ms
		units = [4]int{4, 8, 16, 24}[config%4]
	case config < 16: // hybrid: 10, 20 ms
		units = [2]int{4, 8}[config%2]
	default: // CELT-only: 2.5, 5, 10, 20 ms
		units = [4]int{1, 2, 4, 8}[config%4]
	}
	var count int
	switch toc & 3 {
	case 0:
		count = 1
	case 1, 2:
		count = 2
	case 3:
		if len(p) < 2 {
			return 0, errors.New("Opus packet of code 3 without its frame-count byte")
		}
		count = int(p[1] & 0x3f)
		if count == 0 {
			return 0, errors.New("Opus packet of code 3 with zero frames")
		}
	}
	total := units * count // in 2.5 ms units
	if total > 48 {        // RFC 6716: at most 120 ms per packet
		return 0, fmt.Errorf("Opus packet of %.1f ms; at most 120 ms is allowed", float64(total)*2.5)
	}
	return total * rate / 400, nil // 2.5 ms = rate/400 samples
}
