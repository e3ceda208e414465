package agent

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/loaxa/loaxa/audio"
)

// rampSource yields n samples counting up from 0.
type rampSource struct {
	f      audio.Format
	pos, n int
}

func (r *rampSource) Format() audio.Format { return r.f }
func (r *rampSource) Close() error         { return nil }
func (r *rampSource) Read(p []int16) (int, error) {
	k := 0
	for ; k < len(p) && r.pos < r.n; k++ {
		p[k] = int16(r.pos)
		r.pos++
	}
	if r.pos >= r.n {
		return k, io.EOF
	}
	return k, nil
}

// countOpener serves a ramp 0,1,2,… of n samples per opening, so a test
// can see exactly which samples came out and how often it was opened.
type countOpener struct {
	n     int
	opens int
}

func (c *countOpener) open(_ context.Context, req SourceRequest) (audio.Source, error) {
	c.opens++
	return &rampSource{f: req.Format, n: c.n}, nil
}

func readAll(t *testing.T, s audio.Source) []int16 {
	t.Helper()
	var out []int16
	buf := make([]int16, 7) // odd sizes cross every boundary
	for {
		n, err := s.Read(buf)
		out = append(out, buf[:n]...)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenContentRepeatSkipLimit(t *testing.T) {
	req := SourceRequest{Source: "file:x", Format: outFormat}
	tests := []struct {
		name               string
		n                  int
		skip, limit        int64
		repeat, wantOpens  int
		wantLen, wantFirst int
	}{
		{"plain", 100, 0, 0, 0, 1, 100, 0},
		{"repeat 2 plays it three times", 100, 0, 0, 2, 3, 300, 0},
		{"skip resumes inside the first round", 100, 30, 0, 0, 1, 70, 30},
		{"skip across a repeat", 100, 130, 0, 1, 2, 70, 30},
		{"limit cuts", 100, 0, 50, 3, 1, 50, 0},
		{"skip then limit", 100, 10, 20, 0, 1, 20, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			co := &countOpener{n: tt.n}
			s, err := openContent(context.Background(), co.open, req, tt.skip, tt.limit, tt.repeat)
			if err != nil {
				t.Fatal(err)
			}
			out := readAll(t, s)
			s.Close()
			if len(out) != tt.wantLen || co.opens != tt.wantOpens || int(out[0]) != tt.wantFirst {
				t.Fatalf("got %d samples from %d openings starting at %d; want %d from %d starting at %d",
					len(out), co.opens, out[0], tt.wantLen, tt.wantOpens, tt.wantFirst)
			}
		})
	}
	if _, err := openContent(context.Background(), (&countOpener{n: 10}).open, req, 50, 0, 0); err == nil {
		t.Error("a resume point past the end was accepted")
	}
}
