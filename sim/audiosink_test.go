package sim

import (
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/audio/dsp"
	"github.com/loaxa/loaxa/audio/wav"
	"github.com/loaxa/loaxa/internal/audiotest"
	"github.com/loaxa/loaxa/internal/clock"
)

var stereo48 = audio.Format{Rate: 48000, Channels: 2}

// toneFrames returns d of a 1 kHz half-scale tone.
func toneFrames(t *testing.T, f audio.Format, d time.Duration) []int16 {
	t.Helper()
	return audiotest.Sine(f, 1000, 0.5, int(d.Seconds()*float64(f.Rate)))
}

func newSink(t *testing.T, o AudioSinkOptions) (*AudioSink, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(start)
	o.Clock = clk
	s, err := NewAudioSink(stereo48, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, clk
}

func TestAudioSinkRecordsWrites(t *testing.T) {
	s, clk := newSink(t, AudioSinkOptions{NoPacing: true})
	if _, ok := s.FirstSampleAt(); ok {
		t.Error("FirstSampleAt set before any write")
	}
	clk.Advance(150 * time.Millisecond)
	p := toneFrames(t, stereo48, 100*time.Millisecond)
	for i := 0; i < len(p); i += 960 * 2 { // 20 ms writes
		if err := s.Write(p[i : i+960*2]); err != nil {
			t.Fatal(err)
		}
		clk.Advance(20 * time.Millisecond)
	}
	first, ok := s.FirstSampleAt()
	if !ok || !first.Equal(start.Add(150*time.Millisecond)) {
		t.Errorf("first sample at %v (%v), want %v", first, ok, start.Add(150*time.Millisecond))
	}
	ws := s.Writes()
	if len(ws) != 5 {
		t.Fatalf("%d writes recorded, want 5", len(ws))
	}
	for i, w := range ws {
		at := start.Add(150*time.Millisecond + time.Duration(i)*20*time.Millisecond)
		if !w.At.Equal(at) || !w.Start.Equal(at) || w.Frame != int64(960*i) || w.Frames != 960 || w.Underrun {
			t.Errorf("write %d: %+v, want at and start %v, frame %d", i, w, at, 960*i)
		}
		if math.Abs(w.Peak-dsp.GainToDB(0.5)) > 0.1 {
			t.Errorf("write %d: peak %.2f dBFS, want -6", i, w.Peak)
		}
	}
	from, got := s.Samples()
	if from != 0 || !slices.Equal(got, p) {
		t.Errorf("samples from %d: %d kept, want all %d from 0", from, len(got), len(p))
	}
	if s.Frames() != 4800 || s.Underruns() != 0 {
		t.Errorf("%d frames, %d underruns; want 4800, 0", s.Frames(), s.Underruns())
	}
}

// waitBlocked waits until the sink's Write or Drain has armed its timer.
// The 10 s bound turns a hang into a failure; it is not a timing
// assertion.
func waitBlocked(t *testing.T, clk *clock.Fake, done <-chan error) {
	t.Helper()
	hang := time.After(10 * time.Second)
	for clk.Waiters() == 0 {
		select {
		case err := <-done:
			t.Fatalf("returned (%v) instead of blocking", err)
		case <-hang:
			t.Fatal("neither returned nor armed a timer on the sink's clock")
		case <-time.After(time.Millisecond):
		}
	}
}

func TestAudioSinkPacesLikeADevice(t *testing.T) {
	tests := []struct {
		name   string
		buffer time.Duration
		// immediate is how many 20 ms writes fit in the queue and return
		// at once.
		immediate int
	}{
		{"40 ms queue", 40 * time.Millisecond, 2},
		{"no queue", -1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, clk := newSink(t, AudioSinkOptions{Buffer: tt.buffer})
			chunk := toneFrames(t, stereo48, 20*time.Millisecond)
			for i := range tt.immediate {
				if err := s.Write(chunk); err != nil {
					t.Fatalf("write %d: %v", i, err)
				}
			}
			// The next write has to wait until 20 ms of the queue played.
			done := make(chan error, 1)
			go func() { done <- s.Write(chunk) }()
			waitBlocked(t, clk, done)
			clk.Advance(19 * time.Millisecond)
			select {
			case err := <-done:
				t.Fatalf("Write returned (%v) 1 ms before its samples fit", err)
			default:
			}
			clk.Advance(time.Millisecond)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			// Back-to-back writes leave no gap on the device's timeline.
			ws := s.Writes()
			for i := 1; i < len(ws); i++ {
				if !ws[i].Start.Equal(ws[i-1].End(stereo48)) {
					t.Errorf("write %d starts at %v, the previous ends at %v", i, ws[i].Start, ws[i-1].End(stereo48))
				}
			}

			// Drain returns when everything has played (at once, with no
			// queue: the last Write returned when its samples had played).
			go func() { done <- s.Drain() }()
			if end := ws[len(ws)-1].End(stereo48); end.After(clk.Now()) {
				waitBlocked(t, clk, done)
				clk.Advance(end.Sub(clk.Now()))
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if s.Underruns() != 0 {
				t.Errorf("%d underruns while writing on time", s.Underruns())
			}
		})
	}
}

func TestAudioSinkCountsUnderruns(t *testing.T) {
	s, clk := newSink(t, AudioSinkOptions{NoPacing: true, UnderrunThreshold: 10 * time.Millisecond})
	chunk := toneFrames(t, stereo48, 20*time.Millisecond)
	steps := []struct {
		advance  time.Duration // before the write
		drain    bool          // Drain before advancing
		underrun bool
	}{
		{0, false, false},
		{20 * time.Millisecond, false, false}, // on time
		{25 * time.Millisecond, false, false}, // 5 ms late: within the threshold
		{35 * time.Millisecond, false, true},  // 15 ms of silence heard
		{0, false, false},                     // ahead of time: queued
		{time.Second, true, false},            // stopped by Drain: not an underrun
		{time.Second, false, true},
	}
	for i, st := range steps {
		if st.drain {
			if err := s.Drain(); err != nil {
				t.Fatal(err)
			}
		}
		clk.Advance(st.advance)
		if err := s.Write(chunk); err != nil {
			t.Fatal(err)
		}
		if w := s.Writes()[i]; w.Underrun != st.underrun {
			t.Errorf("write %d (%v after the previous): underrun %v, want %v", i, st.advance, w.Underrun, st.underrun)
		}
	}
	if got := s.Underruns(); got != 2 {
		t.Errorf("%d underruns, want 2", got)
	}
}

func TestAudioSinkWAVFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sim", SpeakerFile)
	s, _ := newSink(t, AudioSinkOptions{NoPacing: true, Path: path})
	p := toneFrames(t, stereo48, 2500*time.Millisecond)
	for i := 0; i < len(p); i += 960 * 2 {
		if err := s.Write(p[i:min(i+960*2, len(p))]); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(s.String(), path) {
		t.Errorf("String() = %q does not say where it records", s.String())
	}

	// While the sink runs, the header has been brought up to date at
	// least up to the last whole second.
	r, err := wav.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := r.Frames(); n < 2*48000 || n > 2500*48 {
		t.Errorf("while running, the header announces %d frames, want 2–2.5 s worth", n)
	}
	r.Close()

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	r, err = wav.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := readSource(t, r)
	if r.Format() != stereo48 || r.Frames() != 2500*48 || !slices.Equal(got, p) {
		t.Errorf("file: %v, %d frames, %d samples; want %v, %d, the samples played", r.Format(), r.Frames(), len(got), stereo48, 2500*48)
	}
	if err := s.Write(p[:2]); err == nil {
		t.Error("Write after Close succeeded")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func readSource(t *testing.T, src audio.Source) []int16 {
	t.Helper()
	var out []int16
	buf := make([]int16, 4096)
	for {
		n, err := src.Read(buf)
		out = append(out, buf[:n]...)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestAudioSinkBoundsFileAndMemory(t *testing.T) {
	path := filepath.Join(t.TempDir(), SpeakerFile)
	s, _ := newSink(t, AudioSinkOptions{NoPacing: true, Path: path, MaxFileBytes: 200_000, Keep: 300 * time.Millisecond})
	p := toneFrames(t, stereo48, 2*time.Second)
	for i := 0; i < len(p); i += 960 * 2 {
		if err := s.Write(p[i : i+960*2]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// 2 s of 48 kHz stereo is 384 kB: the file was started over, and the
	// previous one kept beside it.
	var total int64
	for _, name := range []string{path, filepath.Join(filepath.Dir(path), "speaker.1.wav")} {
		st, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > 200_000 {
			t.Errorf("%s is %d bytes, over the 200000 limit", name, st.Size())
		}
		r, err := wav.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		total += int64(len(readSource(t, r)))
		r.Close()
	}
	r, _ := wav.Open(path)
	last := readSource(t, r)
	r.Close()
	if !slices.Equal(last, p[len(p)-len(last):]) {
		t.Error("the current file does not hold the most recent audio")
	}
	// 384 kB fit in the two files of at most 200 kB: nothing is lost yet.
	if total != int64(len(p)) {
		t.Errorf("the two files hold %d samples, want all %d", total, len(p))
	}

	from, kept := s.Samples()
	if keptFrames := int64(len(kept) / 2); keptFrames < 300*48 || keptFrames > 2*300*48 || from+keptFrames != 96000 {
		t.Errorf("memory keeps frames %d to %d, want the last 300–600 ms of 96000", from, from+keptFrames)
	}
	if !slices.Equal(kept, p[2*from:]) {
		t.Error("kept samples are not the most recent ones")
	}
	if ws := s.Writes(); ws[0].Frame+int64(ws[0].Frames) <= from {
		t.Error("writes of dropped audio still listed")
	}
}

func TestAudioSinkPeakAt(t *testing.T) {
	s, clk := newSink(t, AudioSinkOptions{NoPacing: true})
	silence := make([]int16, 2*4800)
	loud := toneFrames(t, stereo48, 100*time.Millisecond)
	for _, p := range [][]int16{silence, loud, silence} {
		if err := s.Write(p); err != nil {
			t.Fatal(err)
		}
		clk.Advance(100 * time.Millisecond)
	}
	tests := []struct {
		at   time.Duration
		want float64
	}{
		{50 * time.Millisecond, dsp.Floor},
		{150 * time.Millisecond, dsp.GainToDB(0.5)},
		{97 * time.Millisecond, dsp.GainToDB(0.5)}, // the window reaches the tone
		{250 * time.Millisecond, dsp.Floor},
		{time.Hour, dsp.Floor},
	}
	for _, tt := range tests {
		if got := s.PeakAt(start.Add(tt.at), 5*time.Millisecond); math.Abs(got-tt.want) > 0.5 {
			t.Errorf("PeakAt(+%v) = %.1f dBFS, want %.1f", tt.at, got, tt.want)
		}
	}
}

func TestAudioSinkCloseUnblocksWrite(t *testing.T) {
	s, clk := newSink(t, AudioSinkOptions{Buffer: -1})
	done := make(chan error, 1)
	go func() { done <- s.Write(make([]int16, 2*48000)) }()
	waitBlocked(t, clk, done)
	s.Close()
	if err := <-done; err == nil {
		t.Error("Write interrupted by Close returned no error")
	}
}

func TestAudioSinkRejects(t *testing.T) {
	if _, err := NewAudioSink(audio.Format{Rate: 48000, Channels: 6}, AudioSinkOptions{}); err == nil {
		t.Error("6 channels accepted")
	}
	s, _ := newSink(t, AudioSinkOptions{NoPacing: true})
	if err := s.Write([]int16{1, 2, 3}); err == nil {
		t.Error("a frame and a half accepted")
	}
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := NewAudioSink(stereo48, AudioSinkOptions{Path: filepath.Join(blocker, SpeakerFile)}); err == nil {
		t.Error("a recording path under a regular file accepted")
	}
}

// On the wall clock the sink works without a fake clock (no timing is
// asserted: that belongs in benchmarks).
func TestAudioSinkRealClock(t *testing.T) {
	s, err := NewAudioSink(audio.Format{Rate: 8000, Channels: 1}, AudioSinkOptions{Buffer: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for range 3 {
		if err := s.Write(make([]int16, 40)); err != nil { // 5 ms
			t.Fatal(err)
		}
	}
	if err := s.Drain(); err != nil {
		t.Fatal(err)
	}
	if s.Frames() != 120 {
		t.Errorf("%d frames, want 120", s.Frames())
	}
}

// On the real clock a pacing Write sleeps on a timerfd (internal/timerfd);
// Close still ends it, with an error.
func TestAudioSinkRealClockCloseUnblocksWrite(t *testing.T) {
	s, err := NewAudioSink(audio.Format{Rate: 8000, Channels: 1}, AudioSinkOptions{Buffer: -1})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Write(make([]int16, 60*8000)) }() // a minute
	time.Sleep(20 * time.Millisecond)                       // let it sleep
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "closed") {
			t.Errorf("Write interrupted by Close: %v, want an error saying the sink closed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end a pacing Write")
	}
}

// With a negative Keep the file gets every sample and memory none.
func TestAudioSinkKeepsNothingInMemoryWhenAsked(t *testing.T) {
	path := filepath.Join(t.TempDir(), SpeakerFile)
	s, _ := newSink(t, AudioSinkOptions{NoPacing: true, Path: path, Keep: -1})
	p := toneFrames(t, stereo48, 1500*time.Millisecond)
	for i := 0; i < len(p); i += 960 * 2 {
		if err := s.Write(p[i:min(i+960*2, len(p))]); err != nil {
			t.Fatal(err)
		}
	}
	if from, kept := s.Samples(); len(kept) != 0 || from != 1500*48 || len(s.Writes()) != 0 {
		t.Errorf("memory holds %d samples from frame %d and %d writes; want none, from frame %d", len(kept), from, len(s.Writes()), 1500*48)
	}
	if s.Frames() != 1500*48 {
		t.Errorf("Frames() = %d, want %d", s.Frames(), 1500*48)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := wav.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := readSource(t, r); !slices.Equal(got, p) {
		t.Errorf("the file holds %d samples, not the %d played", len(got), len(p))
	}
}

// The daemon's clock is clock.System (clock.Real with timerfd tickers):
// the sink must pace on its timerfd under it as under Real, not fall back
// to a Go timer, which wakes the process two or three times per block.
func TestSinkPacesOnTimerfdUnderTheDaemonsClock(t *testing.T) {
	for _, c := range []clock.Clock{clock.Real{}, clock.System{}} {
		s, err := NewAudioSink(audio.Format{Rate: 48000, Channels: 2}, AudioSinkOptions{Clock: c, Keep: -1})
		if err != nil {
			t.Fatal(err)
		}
		if s.timer == nil {
			t.Errorf("%T: the sink paces on a Go timer, not on its timerfd", c)
		}
		s.Close()
	}
}
