package live

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/internal/audiotest"
)

// FuzzSource drives a Source with a fuzzed script of frames (seq jumps
// either way, duplicates, end flags, format changes, Opus packets that
// parse but do not decode) interleaved with reads of fuzzed sizes and
// clock steps. Whatever happens, Read keeps its contract and the buffer
// stays within MaxLatency.
func FuzzSource(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	f.Add([]byte{0x10, 0x10, 0x10, 0x90, 0x80, 0x7f, 0x01, 0xff, 0x40, 0x41})
	f.Add([]byte{0x03, 0x83, 0xc3, 0x23, 0x63, 0xe3, 0x13, 0x53})
	enc, err := NewEncoder(EncoderOptions{Format: mono48})
	if err != nil {
		f.Fatal(err)
	}
	var opusPackets [][]byte
	for k := range 4 {
		fr, err := enc.Encode(audiotest.SineAt(mono48, 500, 0.3, k*960, 960), t0, false)
		if err != nil {
			f.Fatal(err)
		}
		opusPackets = append(opusPackets, fr.Payload)
	}
	opusPackets = append(opusPackets, []byte{celt20, 0xff, 0xff, 0xff, 0xff, 0xff}) // parses, may not decode
	outs := []audio.Format{mono48, {Rate: 44100, Channels: 2}}
	f.Fuzz(func(t *testing.T, script []byte) {
		r := newRig(t, Options{})
		drain := func() {
			for {
				select {
				case <-r.events:
				default:
					return
				}
			}
		}
		s := r.open("studio", outs[len(script)%2])
		ch := s.Format().Channels
		seq := uint32(1<<32 - 8)
		for _, op := range script {
			drain()
			switch op & 3 {
			case 0, 1: // a frame
				seq += uint32(int8(op) >> 3) // −16…+15
				var fr Frame
				if op&0x40 != 0 {
					fr = Frame{Codec: CodecOpus, Channels: 1, Seq: seq, Capture: t0, Rate: 48000, Samples: 960, Payload: opusPackets[int(op>>2)%len(opusPackets)]}
				} else {
					fr = pcmFrame(seq, make([]int16, 480*(1+int(op>>7))), 1+int(op>>7), 48000)
					fr.Capture = t0
				}
				fr.Last = op&0x20 != 0 && op&0x10 != 0
				r.deliver("studio", fr)
			case 2: // a read
				p := make([]int16, (int(op>>2)+1)*37*ch)
				n, err := s.Read(p)
				if n > len(p) || n%ch != 0 || err != nil && !errors.Is(err, io.EOF) {
					t.Fatalf("Read(%d) = %d, %v", len(p), n, err)
				}
			case 3: // time passes
				r.clk.Advance(time.Duration(op>>2) * 10 * time.Millisecond)
			}
			if st := s.Stats(); st.Depth > 2*DefaultTarget {
				t.Fatalf("depth %v beyond MaxLatency", st.Depth)
			}
		}
		drain()
	})
}
