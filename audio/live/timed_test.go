package live

import (
	"context"
	"testing"
	"time"
)

// loudFrames are constFrames at a level no pause-trimming takes for
// silence: frame k holds 400·(k+1).
func loudFrames(first uint32, n int) []Frame {
	fs := constFrames(first, n)
	for k := range fs {
		for i := 0; i < len(fs[k].Payload); i += 2 {
			v := int16(400 * (k + 1))
			fs[k].Payload[i], fs[k].Payload[i+1] = byte(v), byte(v>>8)
		}
	}
	return fs
}

// readTimed reads the source every frameDur for d, at a fixed output
// latency, and returns one value per read (see values).
func (r *rig) readTimed(s *Source, d, latency time.Duration) []int {
	var reads [][]int16
	for tick := time.Duration(0); tick < d; tick += frameDur {
		r.advanceTo(r.clk.Now().Sub(t0) + frameDur)
		p := make([]int16, 960)
		n, err := s.ReadTimed(p, r.clk.Now().Add(latency))
		if err != nil {
			break
		}
		if n > 0 {
			reads = append(reads, p[:n])
		}
	}
	return values(reads)
}

// A backlog taken before play-out (the amplifier warming up) is played
// whole: nothing said after the play was accepted is lost.
func TestTimedBacklogIsPlayedWhole(t *testing.T) {
	r := newRig(t, Options{Target: 200 * time.Millisecond})
	s := r.hub.OpenWith(context.Background(), "ch", mono48, OpenOptions{Backlog: 2 * time.Second})
	defer s.Close()
	fs := loudFrames(100, 65) // 1.3 s, all before the first read
	for _, f := range fs {
		r.deliver("ch", f)
	}
	got := r.readTimed(s, 2*time.Second, 40*time.Millisecond)
	want := make([]int, 65)
	for i := range want {
		want[i] = 400 * (i + 1)
	}
	if len(got) < 65 {
		t.Fatalf("played %d frames, want 65: %v", len(got), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("frame %d played %d, want %d: %v", i, got[i], want[i], got)
		}
	}
}
