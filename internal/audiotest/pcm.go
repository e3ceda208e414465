package audiotest

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"testing"

	"github.com/loaxa/loaxa/audio"
)

// Sine returns frames of a sine of hz at amplitude amp (a fraction of full
// scale, rounded to the nearest sample value), starting at phase 0, the
// same on every channel of f.
func Sine(f audio.Format, hz, amp float64, frames int) []int16 {
	return SineAt(f, hz, amp, 0, frames)
}

// SineAt is frames first to first+frames−1 of Sine: consecutive calls
// join without a jump in phase, as a talk cut into frames does.
func SineAt(f audio.Format, hz, amp float64, first, frames int) []int16 {
	out := make([]int16, frames*f.Channels)
	for i := range frames {
		v := sample(hz, amp, first+i, f.Rate)
		for c := range f.Channels {
			out[i*f.Channels+c] = v
		}
	}
	return out
}

// Tones returns frames of one sine per channel of f, hz[c] on channel c,
// all at amplitude amp: left and right differ, so a swapped channel shows.
func Tones(f audio.Format, amp float64, frames int, hz ...float64) []int16 {
	if len(hz) != f.Channels {
		panic("audiotest: Tones needs one frequency per channel")
	}
	out := make([]int16, frames*f.Channels)
	for i := range frames {
		for c, h := range hz {
			out[i*f.Channels+c] = sample(h, amp, i, f.Rate)
		}
	}
	return out
}

func sample(hz, amp float64, i, rate int) int16 {
	return int16(math.Round(amp * 32767 * math.Sin(2*math.Pi*hz*float64(i)/float64(rate))))
}

// TrimSilence drops the leading and trailing frames of interleaved p in
// which every sample is zero: the digital silence a sink plays before and
// after an item. A frame that is silent on one channel only is kept.
func TrimSilence(p []int16, channels int) []int16 {
	channels = max(channels, 1)
	silent := func(i int) bool { // frame i
		for _, v := range p[i*channels : (i+1)*channels] {
			if v != 0 {
				return false
			}
		}
		return true
	}
	first, end := 0, len(p)/channels
	for first < end && silent(first) {
		first++
	}
	for end > first && silent(end-1) {
		end--
	}
	return p[first*channels : end*channels]
}

// GoertzelPower returns the power at frequency hz of mono samples p at
// rate, without a window: a sine of amplitude A (in sample values) whose
// whole periods fill p gives about (A/2)², 0.5 of full scale about 67e6.
// audio/dsp's Goertzel gives a windowed amplitude instead.
func GoertzelPower(p []int16, rate int, hz float64) float64 {
	w := 2 * math.Pi * hz / float64(rate)
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for _, x := range p {
		s0 := float64(x) + c*s1 - s2
		s2, s1 = s1, s0
	}
	return (s1*s1 + s2*s2 - c*s1*s2) / float64(len(p)*len(p))
}

// WAV returns pcm as a canonical 16-bit PCM WAV file (a 44-byte header and
// the samples). It is written here rather than by audio/wav so that the
// tests of that package can read it as another writer's file.
func WAV(f audio.Format, pcm []int16) []byte {
	var b bytes.Buffer
	data := uint32(2 * len(pcm))
	b.WriteString("RIFF")
	le32(&b, 36+data)
	b.WriteString("WAVEfmt ")
	le32(&b, 16)
	le16(&b, 1) // PCM
	le16(&b, uint16(f.Channels))
	le32(&b, uint32(f.Rate))
	le32(&b, uint32(f.Rate*f.Channels*2)) // bytes per second
	le16(&b, uint16(f.Channels*2))        // block align
	le16(&b, 16)                          // bits per sample
	b.WriteString("data")
	le32(&b, data)
	for _, v := range pcm {
		le16(&b, uint16(v))
	}
	return b.Bytes()
}

// WriteWAV writes pcm to path as a 16-bit PCM WAV file.
func WriteWAV(tb testing.TB, path string, f audio.Format, pcm []int16) {
	tb.Helper()
	if err := os.WriteFile(path, WAV(f, pcm), 0o644); err != nil {
		tb.Fatal(err)
	}
}

func le16(b *bytes.Buffer, v uint16) { b.Write(binary.LittleEndian.AppendUint16(nil, v)) }
func le32(b *bytes.Buffer, v uint32) { b.Write(binary.LittleEndian.AppendUint32(nil, v)) }
