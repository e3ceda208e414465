package dsp

import (
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/loaxa/loaxa/audio"
)

// sliceSource plays back samples, returning at most chunk(max) samples per
// Read when chunk is set (to exercise buffer boundaries).
type sliceSource struct {
	f      audio.Format
	p      []int16
	chunk  func(max int) int
	err    error // returned at the end instead of io.EOF, when set
	closed bool
}

func (s *sliceSource) Format() audio.Format { return s.f }
func (s *sliceSource) Close() error         { s.closed = true; return nil }

func (s *sliceSource) Read(p []int16) (int, error) {
	if len(s.p) == 0 {
		if s.err != nil {
			return 0, s.err
		}
		return 0, io.EOF
	}
	n := len(p)
	if s.chunk != nil {
		n = min(n, s.chunk(len(p)/s.f.Channels)*s.f.Channels)
	}
	n = copy(p[:n], s.p)
	s.p = s.p[n:]
	return n, nil
}

// randomChunks returns chunk sizes from 0 (a Read that returns nothing) to
// max frames, reproducibly.
func randomChunks(seed uint64) func(int) int {
	r := rand.New(rand.NewPCG(seed, 1))
	return func(max int) int { return r.IntN(max + 1) }
}

// readAll reads src to the end with reads of random sizes.
func readAll(t *testing.T, src audio.Source, seed uint64) []int16 {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 2))
	var out []int16
	buf := make([]int16, 4096*src.Format().Channels)
	for {
		n, err := src.Read(buf[:(1+r.IntN(4096))*src.Format().Channels])
		out = append(out, buf[:n]...)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("read after %d samples: %v", len(out), err)
		}
	}
}
