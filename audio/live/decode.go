package live

import (
	"encoding/binary"
	"fmt"

	"gopkg.in/hraban/opus.v2"

	"github.com/loaxa/loaxa/audio"
)

// maxFrameSamples is the most samples (all channels) one frame decodes to:
// 120 ms at 48 kHz in stereo.
const maxFrameSamples = 5760 * 2

// reader is Read's decoding state; only the goroutine calling Read uses it.
type reader struct {
	gen     uint64 // talk the decoder was set up for; 0: none
	params  streamParams
	decFmt  audio.Format  // what the decoder produces
	dec     *opus.Decoder // nil for PCM
	conv    *converter    // decFmt → out
	pcm     []int16       // decode buffer, decFmt
	last    []int16       // PCM: the last frame played, decFmt
	run     int           // PCM: frames concealed in a row
	pending []int16       // out format, not yet returned by Read
	off     int
	// ReadTimed's state: heard is set once the talk's audio (or its
	// concealment) was returned; idx is where pending starts on the talk's
	// timeline; locked is set while a synchronised read keeps to its
	// schedule, for the talk syncGen.
	heard   bool
	idx     int64
	locked  bool
	syncGen uint64
}

// setup prepares the decoder for a talk of params. Opus decodes straight to
// the output channel count, and to the output rate when Opus supports it,
// so the common case needs no conversion at all.
func (r *reader) setup(p streamParams, out audio.Format) error {
	r.params, r.dec, r.last, r.run = p, nil, nil, 0
	switch p.codec {
	case CodecOpus:
		rate := out.Rate
		if !opusRate(rate) {
			rate = 48000
		}
		r.decFmt = audio.Format{Rate: rate, Channels: out.Channels}
		dec, err := opus.NewDecoder(rate, out.Channels)
		if err != nil {
			return fmt.Errorf("live: opus decoder for %v: %w", r.decFmt, err)
		}
		r.dec = dec
	default:
		r.decFmt = audio.Format{Rate: p.rate, Channels: p.channels}
	}
	conv, err := newConverter(r.decFmt, out)
	if err != nil {
		return err
	}
	r.conv = conv
	if r.pcm == nil {
		r.pcm = make([]int16, maxFrameSamples)
	}
	return nil
}

// decSamples converts n samples per channel at the talk's rate into
// samples per channel at the decoder's rate.
func (r *reader) decSamples(n int) int {
	return int(int64(n) * int64(r.decFmt.Rate) / int64(r.params.rate))
}

// produce carries out a, leaving its audio, at the output format, in
// pending.
func (s *Source) produce(a action) error {
	r := &s.rd
	r.pending, r.off = r.pending[:0], 0
	if a.gen == 0 { // silence before the first frame
		r.pending = append(r.pending, make([]int16, a.samples*s.out.Channels)...)
		return nil
	}
	if a.gen != r.gen {
		if err := r.setup(a.params, s.out); err != nil {
			return err
		}
		r.gen = a.gen
	}
	var pcm []int16
	switch a.kind {
	case actSilence:
		pcm = r.silence(r.decSamples(a.samples))
	case actFrame:
		var err error
		if pcm, err = r.decode(a.f); err != nil {
			s.hub.badFrame(s.channel, fmt.Errorf("frame %d: %w", a.f.Seq, err), s.hub.clk.Now())
			pcm = r.conceal(r.decSamples(a.f.Samples), nil)
		}
	case actConceal:
		pcm = r.conceal(r.decSamples(a.samples), a.next)
	}
	r.pending = r.conv.process(r.pending, pcm)
	return nil
}

func (r *reader) silence(n int) []int16 {
	n *= r.decFmt.Channels
	if n > len(r.pcm) {
		n = len(r.pcm)
	}
	clear(r.pcm[:n])
	return r.pcm[:n]
}

// decode decodes one frame into r.pcm.
func (r *reader) decode(f Frame) ([]int16, error) {
	if r.dec != nil {
		n, err := r.dec.Decode(f.Payload, r.pcm)
		if err != nil {
			return nil, fmt.Errorf("opus: %w", err)
		}
		return r.pcm[:n*r.decFmt.Channels], nil
	}
	n := len(f.Payload) / 2
	for i := range n {
		r.pcm[i] = int16(binary.LittleEndian.Uint16(f.Payload[2*i:]))
	}
	r.last = append(r.last[:0], r.pcm[:n]...)
	r.run = 0
	return r.pcm[:n], nil
}

// conceal makes up n samples per channel of a lost frame; next is the
// packet after it, if buffered (Opus FEC).
func (r *reader) conceal(n int, next []byte) []int16 {
	total := min(n*r.decFmt.Channels, len(r.pcm))
	buf := r.pcm[:total:total] // hraban/opus sizes the output by capacity
	if r.dec != nil {
		var err error
		if len(next) > 0 {
			err = r.dec.DecodeFEC(next, buf) // falls back to PLC without FEC data
		} else {
			err = r.dec.DecodePLC(buf)
		}
		if err != nil {
			clear(buf)
		}
		return buf
	}
	// PCM: the previous frame once more, fading to silence, then silence.
	clear(buf)
	if r.run == 0 && len(r.last) > 0 {
		ch := r.decFmt.Channels
		m := min(len(r.last), total) / ch
		for i := range m {
			g := float64(m-i) / float64(m)
			for c := range ch {
				buf[i*ch+c] = int16(float64(r.last[i*ch+c]) * g)
			}
		}
	}
	r.run++
	return buf
}
