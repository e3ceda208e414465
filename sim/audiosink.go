package sim

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/audio/dsp"
	"github.com/loaxa/loaxa/audio/wav"
	"github.com/loaxa/loaxa/internal/clock"
	"github.com/loaxa/loaxa/internal/timerfd"
)

// SpeakerFile is the name loaxad --sim gives the simulated speaker's
// recording in its simulation directory (DATA_DIR/sim/speaker.wav).
const SpeakerFile = "speaker.wav"

// Defaults of AudioSinkOptions.
const (
	DefaultSinkBuffer        = 40 * time.Millisecond
	DefaultUnderrunThreshold = 10 * time.Millisecond
	DefaultKeep              = 10 * time.Minute
	DefaultMaxFileBytes      = 512 << 20
)

// headerEvery is how much audio the sink writes to its WAV file between
// two fix-ups of the header sizes: a player opening the file mid-run sees
// at most this much less than what was played (and, as the sizes start out
// "unknown", most players read to the end of the file anyway).
const headerEvery = time.Second

// AudioSinkOptions configures a simulated speaker. The zero value is a
// real-time sink on the wall clock that keeps DefaultKeep of audio in
// memory and writes no file.
type AudioSinkOptions struct {
	// Clock times and paces the writes; nil means clock.Real.
	Clock clock.Clock
	// Path, if set, is a WAV file that receives every sample as it is
	// written, so that a person can listen to what the speakers would
	// play while the agent runs (loaxad --sim uses DATA_DIR/sim/speaker.wav).
	// An existing file is replaced.
	Path string
	// NoPacing makes Write return at once instead of at the pace of
	// playback, for fast tests. Timestamps still follow Clock.
	NoPacing bool
	// Buffer is the simulated device's queue: Write returns once the
	// samples fit in it, that is when what is still queued ahead of them
	// plays for at most Buffer. In steady state each Write then blocks for
	// the duration of its samples, like a real device. 0 means
	// DefaultSinkBuffer; a negative value means no queue (Write returns
	// only when its samples have played).
	Buffer time.Duration
	// UnderrunThreshold: a Write that arrives more than this after the
	// device ran out of samples counts as an underrun (a gap the listener
	// hears). 0 means DefaultUnderrunThreshold.
	UnderrunThreshold time.Duration
	// Keep is how much of the most recent audio is kept in memory (and
	// in Writes); older audio is dropped from memory, not from the file.
	// 0 means DefaultKeep; a negative value keeps none (Samples, Writes
	// and PeakAt then see nothing), for a sink whose file is what is
	// looked at.
	Keep time.Duration
	// MaxFileBytes bounds the WAV file: when the next write would pass it,
	// the file is renamed with ".1" before its extension (replacing the
	// previous one) and a new file starts, so a long --sim run does not
	// fill the disk. 0 means DefaultMaxFileBytes (about 46 minutes of
	// 48 kHz stereo).
	MaxFileBytes int64
	// Logger receives underruns and file rotations; nil discards them.
	Logger *slog.Logger
}

// AudioWrite is one Write to the simulated speaker.
type AudioWrite struct {
	// At is when Write was called.
	At time.Time
	// Start is when its first sample plays: At, or later when earlier
	// samples were still queued.
	Start time.Time
	// Frame is the index of its first frame since the sink opened.
	Frame int64
	// Frames is the number of frames written.
	Frames int
	// Underrun is set when the device had run dry before this write.
	Underrun bool
	// Peak is the peak level of the samples, in dBFS.
	Peak float64
}

// End returns when the last sample of w has played, for a sink of format f.
func (w AudioWrite) End(f audio.Format) time.Time { return w.Start.Add(frameDur(int64(w.Frames), f)) }

func frameDur(frames int64, f audio.Format) time.Duration {
	r := int64(f.Rate)
	// In two parts, so that days of audio do not overflow.
	return time.Duration(frames/r)*time.Second + time.Duration(frames%r*int64(time.Second)/r)
}

// AudioSink is a simulated loudspeaker: an audio.Sink that records every
// sample with the time it was written, paces writes like a real device
// and, given a path, writes what it plays to a WAV file. It starts no
// goroutine. Write, Drain and Close are called by the goroutine that feeds
// the sink (Close may also come from another goroutine, to unblock it);
// the inspection methods may be called from any goroutine.
type AudioSink struct {
	f    audio.Format
	clk  clock.Clock
	opts AudioSinkOptions
	log  *slog.Logger
	done chan struct{} // closed by Close: unblocks a pacing Write
	// timer paces writes on the real clock (nil: a clock timer does):
	// it wakes the process once per write where a Go timer woke it two
	// or three times (internal/timerfd).
	timer *timerfd.Timer

	mu        sync.Mutex // guards the fields below
	closed    bool
	next      time.Time // when the queued audio has all played
	idle      bool      // nothing played since open or Drain: no underrun
	frames    int64     // frames written since open
	first     time.Time // when the first sample was written
	underruns int
	writes    []AudioWrite
	samples   []int16 // the most recent audio, from frame keptFrom on
	keptFrom  int64
	file      *os.File
	bw        *bufSeeker
	wav       *wav.Writer
	fileBytes int64
	unsynced  int64 // frames written to the file since the header fix-up
	fileFrame int64 // frames in the current WAV file
	timing    *timingLog
}

// NewAudioSink returns a simulated speaker that plays format f.
func NewAudioSink(f audio.Format, o AudioSinkOptions) (*AudioSink, error) {
	if !f.Valid() {
		return nil, fmt.Errorf("sim: audio sink format %v: rate must be 8000–192000 Hz and channels 1 or 2", f)
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	switch {
	case o.Buffer == 0:
		o.Buffer = DefaultSinkBuffer
	case o.Buffer < 0:
		o.Buffer = 0
	}
	if o.UnderrunThreshold <= 0 {
		o.UnderrunThreshold = DefaultUnderrunThreshold
	}
	if o.Keep == 0 {
		o.Keep = DefaultKeep
	}
	if o.MaxFileBytes <= 0 {
		o.MaxFileBytes = DefaultMaxFileBytes
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &AudioSink{f: f, clk: o.Clock, opts: o, log: log, done: make(chan struct{}), idle: true}
	switch o.Clock.(type) {
	case clock.Real, clock.System:
		if !o.NoPacing {
			s.timer, _ = timerfd.New() // none: a Go timer paces
		}
	}
	if o.Path != "" {
		if err := os.MkdirAll(filepath.Dir(o.Path), 0o755); err != nil {
			return nil, fmt.Errorf("sim: audio sink: %w", err)
		}
		if err := s.openFile(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// openFile starts a new WAV file at the path; s.mu is held or s is new.
func (s *AudioSink) openFile() error {
	file, err := os.Create(s.opts.Path)
	if err != nil {
		return fmt.Errorf("sim: audio sink: %w", err)
	}
	bw := &bufSeeker{bufio.NewWriterSize(file, 64<<10), file}
	w, err := wav.NewWriter(bw, s.f)
	if err != nil {
		file.Close()
		return fmt.Errorf("sim: audio sink %s: %w", s.opts.Path, err)
	}
	s.file, s.bw, s.wav, s.fileBytes, s.unsynced, s.fileFrame = file, bw, w, 44, 0, 0
	t, err := openTiming(TimingPath(s.opts.Path))
	if err != nil {
		w.Close()
		file.Close()
		return err
	}
	s.timing = t
	return nil
}

// closeFile finalises the WAV header and closes the file; s.mu is held.
func (s *AudioSink) closeFile() error {
	if s.file == nil {
		return nil
	}
	err := errors.Join(s.wav.Close(), s.bw.Flush(), s.file.Close(), s.timing.close())
	s.file, s.wav, s.timing = nil, nil, nil
	if err != nil {
		return fmt.Errorf("sim: audio sink %s: %w", s.opts.Path, err)
	}
	return nil
}

// rotatedPath is where a full recording goes: speaker.wav → speaker.1.wav.
func rotatedPath(path string) string {
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + ".1" + ext
}

// String names the sink.
func (s *AudioSink) String() string {
	if s.opts.Path != "" {
		return fmt.Sprintf("simulated speaker (%v, recording to %s)", s.f, s.opts.Path)
	}
	return fmt.Sprintf("simulated speaker (%v)", s.f)
}

// Format returns the format the sink plays.
func (s *AudioSink) Format() audio.Format { return s.f }

// Write plays p (whole frames). Unless NoPacing is set, it returns when the
// samples fit in the device's queue (see AudioSinkOptions.Buffer), as
// measured by the sink's clock, or when the sink is closed.
func (s *AudioSink) Write(p []int16) error {
	if len(p)%s.f.Channels != 0 {
		return fmt.Errorf("sim: audio sink: %d samples is not a whole number of %d-channel frames", len(p), s.f.Channels)
	}
	if len(p) == 0 {
		return nil
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errors.New("sim: audio sink: write after close")
	}
	now := s.clk.Now()
	frames := len(p) / s.f.Channels
	start := now
	underrun := false
	if s.next.After(now) {
		start = s.next
	} else if !s.idle && now.Sub(s.next) > s.opts.UnderrunThreshold {
		underrun = true
		s.underruns++
		s.log.Debug("simulated speaker underrun", "gap", now.Sub(s.next), "underruns", s.underruns)
	}
	if s.first.IsZero() {
		s.first = now
	}
	s.next = start.Add(frameDur(int64(frames), s.f))
	s.idle = false
	if s.opts.Keep > 0 {
		s.writes = append(s.writes, AudioWrite{At: now, Start: start, Frame: s.frames, Frames: frames, Underrun: underrun, Peak: dsp.Peak(p)})
		s.samples = append(s.samples, p...)
	}
	s.frames += int64(frames)
	s.trim()
	err := s.record(p, start)
	wait := s.next.Add(-s.opts.Buffer).Sub(now)
	s.mu.Unlock()

	if err != nil || s.opts.NoPacing || wait <= 0 {
		return err
	}
	return s.sleep(wait)
}

// sleep waits d on the sink's clock, or until Close.
func (s *AudioSink) sleep(d time.Duration) error {
	if s.timer != nil {
		if err := s.timer.Sleep(d); err != nil {
			if errors.Is(err, timerfd.ErrClosed) {
				return errors.New("sim: audio sink closed during write")
			}
			return fmt.Errorf("sim: audio sink: %w", err)
		}
		return nil
	}
	t := s.clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-s.done:
		return errors.New("sim: audio sink closed during write")
	}
}

// trim drops from memory what is older than Keep; s.mu is held.
func (s *AudioSink) trim() {
	if s.opts.Keep < 0 {
		s.keptFrom = s.frames // nothing kept
		return
	}
	keep := int64(s.opts.Keep.Seconds() * float64(s.f.Rate))
	kept := int64(len(s.samples) / s.f.Channels)
	// Dropping in halves keeps the copying amortised.
	if kept <= 2*keep {
		return
	}
	drop := kept - keep
	s.samples = append(s.samples[:0], s.samples[drop*int64(s.f.Channels):]...)
	s.keptFrom += drop
	i := 0
	for i < len(s.writes) && s.writes[i].Frame+int64(s.writes[i].Frames) <= s.keptFrom {
		i++
	}
	s.writes = append(s.writes[:0], s.writes[i:]...)
}

// record appends p, which starts playing at start, to the WAV file and its
// timing; s.mu is held.
func (s *AudioSink) record(p []int16, start time.Time) error {
	if s.file == nil {
		return nil
	}
	size := int64(2 * len(p))
	if s.fileBytes+size > s.opts.MaxFileBytes && s.fileBytes > 44 {
		old := rotatedPath(s.opts.Path)
		err := s.closeFile()
		if err == nil {
			err = os.Rename(s.opts.Path, old)
		}
		if err == nil {
			err = os.Rename(TimingPath(s.opts.Path), TimingPath(old))
		}
		if err == nil {
			err = s.openFile()
		}
		if err != nil {
			return fmt.Errorf("sim: audio sink: starting a new recording: %w", err)
		}
		s.log.Info("simulated speaker recording full, started a new one", "path", s.opts.Path, "previous", old)
	}
	if err := s.wav.Write(p); err != nil {
		return fmt.Errorf("sim: audio sink %s: %w", s.opts.Path, err)
	}
	frames := int64(len(p) / s.f.Channels)
	s.timing.add(s.fileFrame, frames, start)
	s.fileFrame += frames
	s.fileBytes += size
	s.unsynced += frames
	if frameDur(s.unsynced, s.f) >= headerEvery {
		s.unsynced = 0
		if err := errors.Join(s.wav.Flush(), s.bw.Flush(), s.timing.flush()); err != nil {
			return fmt.Errorf("sim: audio sink %s: %w", s.opts.Path, err)
		}
	}
	return nil
}

// Drain waits, on the sink's clock, until everything written has played,
// as before switching relays off; unless NoPacing is set. The device then
// counts as stopped: the silence before the next Write is not an underrun.
// It also brings the WAV header up to date.
func (s *AudioSink) Drain() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errors.New("sim: audio sink: drain after close")
	}
	wait := s.next.Sub(s.clk.Now())
	s.mu.Unlock()
	if !s.opts.NoPacing && wait > 0 {
		if err := s.sleep(wait); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.idle = true
	if s.wav != nil {
		s.unsynced = 0
		if err := errors.Join(s.wav.Flush(), s.bw.Flush(), s.timing.flush()); err != nil {
			return fmt.Errorf("sim: audio sink %s: %w", s.opts.Path, err)
		}
	}
	return nil
}

// Close stops the sink, unblocks a pacing Write and finalises the WAV
// file. The recording stays inspectable. Calling Close again does nothing.
func (s *AudioSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	close(s.done)
	if s.timer != nil {
		s.timer.Close()
	}
	return s.closeFile()
}

// Underruns returns how many writes came after the device had run out of
// samples for longer than the threshold.
func (s *AudioSink) Underruns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.underruns
}

// Frames returns the number of frames written since the sink opened.
func (s *AudioSink) Frames() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.frames
}

// FirstSampleAt returns when the first sample was written, and false if
// none has been.
func (s *AudioSink) FirstSampleAt() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.first, !s.first.IsZero()
}

// Writes returns the writes still in memory (see AudioSinkOptions.Keep),
// oldest first.
func (s *AudioSink) Writes() []AudioWrite {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]AudioWrite(nil), s.writes...)
}

// Samples returns a copy of the audio kept in memory and the index of its
// first frame (0 until more than Keep has been written).
func (s *AudioSink) Samples() (from int64, p []int16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keptFrom, append([]int16(nil), s.samples...)
}

// PeakAt returns the peak level, in dBFS, of the audio playing between
// t−window and t+window on the device's timeline (each write plays from
// its Start), or dsp.Floor if nothing played then. Tests use it to check
// that relays switch only while the speakers are silent.
func (s *AudioSink) PeakAt(t time.Time, window time.Duration) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	from, to := t.Add(-window), t.Add(window)
	peak := dsp.Floor
	ch := int64(s.f.Channels)
	for _, w := range s.writes {
		end := w.End(s.f)
		if !end.After(from) || w.Start.After(to) {
			continue
		}
		first := w.Frame + max(0, int64(from.Sub(w.Start).Seconds()*float64(s.f.Rate)))
		last := w.Frame + min(int64(w.Frames), int64(to.Sub(w.Start).Seconds()*float64(s.f.Rate))+1)
		first, last = max(first, s.keptFrom), min(last, w.Frame+int64(w.Frames))
		if first >= last {
			continue
		}
		peak = max(peak, dsp.Peak(s.samples[(first-s.keptFrom)*ch:(last-s.keptFrom)*ch]))
	}
	return peak
}

// NextPlayout returns when the next sample written will start playing:
// when the queued audio has played, or now when nothing is queued. It
// implements audio.PlayoutClock, so a player can schedule by it.
func (s *AudioSink) NextPlayout() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clk.Now()
	if s.next.After(now) {
		return s.next
	}
	return now
}

// Latency is the simulated device's output latency: a Write returns
// when what is queued ahead of its last sample plays for Buffer.
func (s *AudioSink) Latency() time.Duration { return s.opts.Buffer }

// bufSeeker buffers the recording's writes (one write call per 64 KiB,
// not per block: system calls are what a pipeline that wakes every 10 ms
// pays for most); a Seek, which the WAV header fix-up makes every second
// and at the end, writes out what is buffered first.
type bufSeeker struct {
	*bufio.Writer
	f *os.File
}

func (b *bufSeeker) Seek(off int64, whence int) (int64, error) {
	if err := b.Flush(); err != nil {
		return 0, err
	}
	return b.f.Seek(off, whence)
}

var _ io.WriteSeeker = (*bufSeeker)(nil)
