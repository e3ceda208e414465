package live

import (
	"fmt"
	"time"

	"gopkg.in/hraban/opus.v2"

	"github.com/loaxa/loaxa/audio"
)

// Defaults of EncoderOptions.
const (
	DefaultFrameDuration = 20 * time.Millisecond
	// DefaultBitrate suits speech: Opus keeps mono voice intelligible from
	// 16 kbit/s, and 24 kbit/s leaves room for in-band FEC on a 4G uplink.
	DefaultBitrate = 24000
	// DefaultLossPercent is the loss the Opus encoder plans its in-band FEC
	// for. At 24 kbit/s, 10% makes libopus code wideband SILK with FEC
	// data in every packet, so one lost frame is rebuilt from the next at
	// near full level; at 5% it codes fullband hybrid without FEC, and a
	// lost frame then comes back at a fifth of its level (measured with a
	// 1 kHz tone, libopus 1.3).
	DefaultLossPercent = 10
)

// EncoderOptions configure an Encoder.
type EncoderOptions struct {
	// Codec of the frames: CodecOpus (the zero value means Opus) or
	// CodecPCM.
	Codec Codec
	// Format of the PCM given to Encode. Opus needs a rate of 8000,
	// 12000, 16000, 24000 or 48000 Hz; PCM one of 8000–48000 Hz.
	Format audio.Format
	// FrameDuration is the audio per frame; zero means 20 ms. Opus allows
	// 2.5, 5, 10, 20, 40 and 60 ms.
	FrameDuration time.Duration
	// Bitrate of the Opus stream in bit/s; zero means DefaultBitrate.
	Bitrate int
	// LossPercent is the packet loss (0–100) the Opus encoder protects
	// against with in-band FEC; zero means DefaultLossPercent, negative
	// turns FEC off.
	LossPercent int
	// FirstSeq is the seq of the first frame.
	FirstSeq uint32
}

// Encoder turns PCM into a talk's frames: it numbers them, stamps them and,
// for Opus, encodes them. It is not safe for concurrent use.
type Encoder struct {
	codec   Codec
	format  audio.Format
	samples int // per channel per frame
	seq     uint32
	enc     *opus.Encoder // nil for PCM
	buf     []byte
}

// NewEncoder checks o and makes an Encoder.
func NewEncoder(o EncoderOptions) (*Encoder, error) {
	if o.Codec == 0 {
		o.Codec = CodecOpus
	}
	if o.FrameDuration == 0 {
		o.FrameDuration = DefaultFrameDuration
	}
	if o.Bitrate == 0 {
		o.Bitrate = DefaultBitrate
	}
	if o.LossPercent == 0 {
		o.LossPercent = DefaultLossPercent
	}
	f := o.Format
	if f.Channels != 1 && f.Channels != 2 {
		return nil, fmt.Errorf("live: encoder: %d channels; expected 1 or 2", f.Channels)
	}
	e := &Encoder{codec: o.Codec, format: f, seq: o.FirstSeq}
	switch o.Codec {
	case CodecOpus:
		if !opusRate(f.Rate) {
			return nil, fmt.Errorf("live: encoder: Opus at %d Hz; expected 8000, 12000, 16000, 24000 or 48000", f.Rate)
		}
		switch o.FrameDuration {
		case 2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 60 * time.Millisecond:
		default:
			return nil, fmt.Errorf("live: encoder: Opus frames of %v; expected 2.5, 5, 10, 20, 40 or 60 ms", o.FrameDuration)
		}
		if o.Bitrate < 6000 || o.Bitrate > 510000 {
			return nil, fmt.Errorf("live: encoder: bitrate %d bit/s; Opus takes 6000–510000", o.Bitrate)
		}
		if o.LossPercent > 100 {
			return nil, fmt.Errorf("live: encoder: loss %d%%; expected 0–100", o.LossPercent)
		}
		enc, err := opus.NewEncoder(f.Rate, f.Channels, opus.AppVoIP)
		if err != nil {
			return nil, fmt.Errorf("live: opus encoder at %v: %w", f, err)
		}
		if err := enc.SetBitrate(o.Bitrate); err != nil {
			return nil, fmt.Errorf("live: opus bitrate %d: %w", o.Bitrate, err)
		}
		if o.LossPercent > 0 {
			if err := enc.SetInBandFEC(true); err != nil {
				return nil, fmt.Errorf("live: opus in-band FEC: %w", err)
			}
			if err := enc.SetPacketLossPerc(o.LossPercent); err != nil {
				return nil, fmt.Errorf("live: opus loss %d%%: %w", o.LossPercent, err)
			}
		}
		e.enc = enc
		e.buf = make([]byte, MaxOpusPayload)
	case CodecPCM:
		if f.Rate < MinPCMRate || f.Rate > MaxPCMRate {
			return nil, fmt.Errorf("live: encoder: PCM at %d Hz; expected %d–%d", f.Rate, MinPCMRate, MaxPCMRate)
		}
		if o.FrameDuration <= 0 || o.FrameDuration > MaxFrameDuration {
			return nil, fmt.Errorf("live: encoder: PCM frames of %v; expected up to %v", o.FrameDuration, MaxFrameDuration)
		}
	default:
		return nil, fmt.Errorf("live: encoder: codec %v; expected Opus or PCM", o.Codec)
	}
	e.samples = int(o.FrameDuration * time.Duration(f.Rate) / time.Second)
	if e.samples <= 0 {
		return nil, fmt.Errorf("live: encoder: frames of %v at %d Hz hold no sample", o.FrameDuration, f.Rate)
	}
	return e, nil
}

// FrameSamples is how many samples per channel each Encode takes.
func (e *Encoder) FrameSamples() int { return e.samples }

// Format is the PCM format Encode takes.
func (e *Encoder) Format() audio.Format { return e.format }

// Encode makes the next frame from exactly FrameSamples samples per channel
// (pad the end of a talk with silence), captured at capture; last marks the
// end of the talk. The frame's Payload is newly allocated.
func (e *Encoder) Encode(pcm []int16, capture time.Time, last bool) (Frame, error) {
	if want := e.samples * e.format.Channels; len(pcm) != want {
		return Frame{}, fmt.Errorf("live: encode: %d samples; a frame takes %d", len(pcm), want)
	}
	f := Frame{Codec: e.codec, Channels: e.format.Channels, Last: last, Seq: e.seq, Capture: capture, Rate: e.format.Rate, Samples: e.samples}
	switch e.codec {
	case CodecOpus:
		n, err := e.enc.Encode(pcm, e.buf)
		if err != nil {
			return Frame{}, fmt.Errorf("live: opus encode: %w", err)
		}
		f.Payload = append([]byte(nil), e.buf[:n]...)
	case CodecPCM:
		f.Payload = make([]byte, 2*len(pcm))
		for i, s := range pcm {
			f.Payload[2*i] = byte(s)
			f.Payload[2*i+1] = byte(uint16(s) >> 8)
		}
	}
	e.seq++
	return f, nil
}
