package sim

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The timing records say, from outside the process, when each sample of
// speaker.wav sounded: a block written while the queue still plays starts
// where it ends, one written after a gap starts when written.
func TestSpeakerTimingRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), SpeakerFile)
	s, clk := newSink(t, AudioSinkOptions{NoPacing: true, Path: path})
	block := toneFrames(t, stereo48, 10*time.Millisecond) // 480 frames
	s.Write(block)
	s.Write(block)                      // queued behind the first
	clk.Advance(100 * time.Millisecond) // the device ran dry
	if got := s.NextPlayout(); !got.Equal(start.Add(100 * time.Millisecond)) {
		t.Errorf("NextPlayout %v after a gap, want now", got)
	}
	s.Write(block)
	if err := s.Drain(); err != nil {
		t.Fatal(err)
	}
	recs, err := ReadSpeakerTiming(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []SpeakerTiming{
		{Frame: 0, Frames: 480, UnixNS: start.UnixNano()},
		{Frame: 480, Frames: 480, UnixNS: start.Add(10 * time.Millisecond).UnixNano()},
		{Frame: 960, Frames: 480, UnixNS: start.Add(100 * time.Millisecond).UnixNano()},
	}
	if len(recs) != len(want) {
		t.Fatalf("records %+v, want %+v", recs, want)
	}
	for i := range want {
		if recs[i] != want[i] {
			t.Errorf("record %d = %+v, want %+v", i, recs[i], want[i])
		}
	}
	for _, c := range []struct {
		frame int64
		at    time.Duration
		ok    bool
	}{{0, 0, true}, {240, 5 * time.Millisecond, true}, {960 + 48, 101 * time.Millisecond, true}, {1440, 0, false}} {
		at, ok := SoundedAt(recs, c.frame, stereo48.Rate)
		if ok != c.ok || ok && !at.Equal(start.Add(c.at)) {
			t.Errorf("SoundedAt(%d) = %v, %v; want %v, %v", c.frame, at, ok, start.Add(c.at), c.ok)
		}
	}
}

// The timing file rotates with the recording, and its frames count from
// the start of the file they describe.
func TestSpeakerTimingRotatesWithTheWAV(t *testing.T) {
	path := filepath.Join(t.TempDir(), SpeakerFile)
	s, _ := newSink(t, AudioSinkOptions{NoPacing: true, Path: path, MaxFileBytes: 200_000})
	block := toneFrames(t, stereo48, 100*time.Millisecond) // 19200 bytes
	for range 15 {
		if err := s.Write(block); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(TimingPath(rotatedPath(path))); err != nil {
		t.Fatalf("no rotated timing file: %v", err)
	}
	recs, err := ReadSpeakerTiming(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) == 0 || recs[0].Frame != 0 {
		t.Fatalf("the new timing file starts %+v, want frame 0", recs)
	}
}
