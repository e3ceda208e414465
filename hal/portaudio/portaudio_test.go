//go:build cgo

package portaudio

import (
	"errors"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	pa "github.com/gordonklaus/portaudio"

	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/hal"
	"github.com/loaxa/loaxa/internal/timerfd"
)

func TestPickDevice(t *testing.T) {
	alsa := &pa.HostApiInfo{Name: "ALSA"}
	def := &pa.DeviceInfo{Name: "default", MaxOutputChannels: 128, HostApi: alsa}
	usb := &pa.DeviceInfo{Name: "USB Audio Device: - (hw:1,0)", MaxOutputChannels: 2, HostApi: alsa}
	hdmi := &pa.DeviceInfo{Name: "vc4-hdmi: MAI PCM i2s-hifi-0 (hw:0,0)", MaxOutputChannels: 2, HostApi: alsa}
	mic := &pa.DeviceInfo{Name: "USB Mic (hw:2,0)", MaxInputChannels: 1, HostApi: alsa}
	all := []*pa.DeviceInfo{def, usb, hdmi, mic}
	tests := []struct {
		name    string
		devs    []*pa.DeviceInfo
		want    string
		def     *pa.DeviceInfo
		absent  bool
		errWord string
	}{
		{name: "default", devs: all, def: def, want: "default"},
		{name: "USB Audio Device: - (hw:1,0)", devs: all, want: usb.Name},
		{name: "hw:1,0", devs: all, want: usb.Name},
		{name: "HDMI", devs: all, want: hdmi.Name},
		{name: "hw:", devs: all, errWord: "ambiguous"},
		{name: "hw:2,0", devs: all, absent: true, errWord: `"default", "USB Audio`}, // an input only
		{name: "hw:3,0", devs: all, absent: true, errWord: "no output device"},
		{name: "", devs: all, absent: true, errWord: "no default"},
		{name: "", devs: []*pa.DeviceInfo{mic}, absent: true, errWord: "no audio output device"},
		{name: "default", devs: nil, absent: true, errWord: "no audio output device"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := pickDevice(tt.devs, tt.name, tt.def)
			if tt.errWord == "" {
				if err != nil || d.Name != tt.want {
					t.Fatalf("got %v, %v; want %q", d, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.errWord) || errors.Is(err, hal.ErrAbsent) != tt.absent {
				t.Errorf("error %v; want one containing %q, absent=%v", err, tt.errWord, tt.absent)
			}
		})
	}
}

func TestOpenRejectsBadOptions(t *testing.T) {
	for _, o := range []Options{
		{Format: audio.Format{Rate: 48000, Channels: 6}},
		{Format: audio.Format{Rate: 48000, Channels: 2}, FramesPerBuffer: -1},
	} {
		if _, err := Open(o); err == nil || errors.Is(err, hal.ErrAbsent) {
			t.Errorf("Open(%+v): %v, want an error about the options", o, err)
		}
	}
}

// fakeStream stands in for a PortAudio blocking stream: it plays what the
// sink's buffer holds and reports underflows on chosen writes.
type fakeStream struct {
	buf      *[]int16
	played   []int16
	writes   int
	results  map[int]error // by write number, from 1
	starts   int
	running  bool
	stops    int
	closed   bool
	startErr error
}

func (f *fakeStream) Start() error {
	f.starts++
	f.running = f.startErr == nil
	return f.startErr
}
func (f *fakeStream) Stop() error                    { f.stops++; f.running = false; return nil }
func (f *fakeStream) Close() error                   { f.closed = true; return nil }
func (f *fakeStream) AvailableToWrite() (int, error) { return 1 << 20, nil }
func (f *fakeStream) Info() *pa.StreamInfo           { return &pa.StreamInfo{OutputLatency: 1} }
func (f *fakeStream) Write() error {
	if !f.running {
		return pa.StreamIsStopped
	}
	f.writes++
	f.played = append(f.played, *f.buf...)
	return f.results[f.writes]
}

func fakeSink(fpb int, results map[int]error) (*Sink, *fakeStream) {
	s := &Sink{f: audio.Format{Rate: 48000, Channels: 2}, name: "fake", fpb: fpb, log: slog.New(slog.DiscardHandler)}
	s.own = make([]int16, fpb*2)
	fs := &fakeStream{buf: &s.buf, results: results}
	s.stream = fs
	return s, fs
}

func TestWriteCountsUnderflows(t *testing.T) {
	s, fs := fakeSink(4, map[int]error{2: pa.OutputUnderflowed, 5: pa.OutputUnderflowed})
	var want []int16
	for i := range 3 {
		p := make([]int16, 2*7) // 7 frames: more than a buffer of 4
		for j := range p {
			p[j] = int16(100*i + j)
		}
		want = append(want, p...)
		if err := s.Write(p); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	if !slices.Equal(fs.played, want) {
		t.Errorf("played %v, want %v", fs.played, want)
	}
	if fs.writes != 6 || fs.starts != 1 {
		t.Errorf("%d device writes, %d starts; want 6 (7 frames in buffers of 4, three times) and 1", fs.writes, fs.starts)
	}
	if s.Underruns() != 2 {
		t.Errorf("%d underruns, want 2", s.Underruns())
	}

	// Drain stops the stream; the next Write starts it again.
	if err := s.Drain(); err != nil || fs.running {
		t.Fatalf("Drain: %v, running %v", err, fs.running)
	}
	if err := s.Write([]int16{1, 2}); err != nil || fs.starts != 2 {
		t.Errorf("Write after Drain: %v, %d starts; want a restart", err, fs.starts)
	}
	if err := s.Write([]int16{1, 2, 3}); err == nil {
		t.Error("a frame and a half accepted")
	}
}

func TestWriteReturnsDeviceErrors(t *testing.T) {
	s, _ := fakeSink(4, map[int]error{1: pa.UnanticipatedHostError{Text: "device unplugged"}})
	err := s.Write(make([]int16, 8))
	if err == nil || !strings.Contains(err.Error(), "device unplugged") || !strings.Contains(err.Error(), "fake") {
		t.Errorf("error %v, want the device's, naming the device", err)
	}
	if s.Underruns() != 0 {
		t.Errorf("a device error counted as an underrun")
	}

	s, fs := fakeSink(4, nil)
	fs.startErr = pa.DeviceUnavailable
	if err := s.Write(make([]int16, 8)); !errors.Is(err, pa.DeviceUnavailable) {
		t.Errorf("start failure: %v", err)
	}
}

// blockingStream is a stream whose writes hang until release is closed,
// as PortAudio's did on a stopped JACK server.
type blockingStream struct {
	fakeStream
	release chan struct{}
}

func (b *blockingStream) Write() error {
	<-b.release
	return nil
}

// Issue 7, finding 7: reopening PortAudio while a write of another stream
// was stuck in the JACK driver aborted the process inside Pa_OpenStream.
func TestOpenRefusesWhileAWriteIsStuck(t *testing.T) {
	s, _ := fakeSink(4, nil)
	bs := &blockingStream{release: make(chan struct{})}
	s.stream = bs
	bs.running = true
	done := make(chan error)
	go func() { done <- s.Write(make([]int16, 8)) }()
	for writing.Load() == 0 {
		runtime.Gosched()
	}
	_, err := Open(Options{Device: "system", Format: audio.Format{Rate: 48000, Channels: 2}})
	if !errors.Is(err, ErrWedged) || errors.Is(err, hal.ErrAbsent) {
		t.Errorf("Open during a stuck write: %v, want ErrWedged", err)
	}
	close(bs.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := writing.Load(); n != 0 {
		t.Errorf("%d writes still counted after they returned", n)
	}
}

// periodStream is a blocking stream as the Sink sees it: a buffer of
// size frames that the device empties a period at a time, in real time.
type periodStream struct {
	fakeStream
	buf          *[]int16
	size, period int
	start        time.Time
	written      int // frames
	queries      int
	tooBig       int // writes of more than there was room for
}

func (p *periodStream) AvailableToWrite() (int, error) {
	p.queries++
	played := int(time.Since(p.start)/(time.Duration(p.period)*time.Second/48000)) * p.period
	return p.size - max(0, p.written-played), nil
}

func (p *periodStream) Write() error {
	n := len(*p.buf) / 2
	if avail, _ := p.AvailableToWrite(); n > avail {
		p.tooBig++
	}
	p.queries--
	p.written += n
	return nil
}

// A device frees its buffer a period at a time (480 frames). A Sink that
// slept for exactly the room it was short of woke before the period
// ended, found nothing freed, and slept again, up to four times per write,
// each wake-up waking the Go runtime's monitor thread too: 100 wake-ups a
// second instead of 38 while playing an MP3 (docs/benchmarks.md). After
// the first writes (the buffer starts empty, and the Sink learns the
// period from what it sees freed), a write must cost at most two looks at
// the room (one before it, one after its single wait), and never write
// more than fits (PortAudio would block the thread in C). Live audio's
// 10 ms writes show it most.
func TestWriteWaitsInWholePeriods(t *testing.T) {
	const fpb, block = 2048, 480
	tm, err := timerfd.New()
	if err != nil {
		t.Skip(err)
	}
	defer tm.Close()
	s := &Sink{f: audio.Format{Rate: 48000, Channels: 2}, name: "fake device", fpb: fpb, log: slog.New(slog.DiscardHandler),
		own: make([]int16, fpb*2), timer: tm}
	ps := &periodStream{buf: &s.buf, size: 2 * fpb, period: 480, start: time.Now()}
	s.stream = ps
	const warmup, writes = 20, 100 // a second of audio after the warm-up
	for i := range warmup + writes {
		if i == warmup {
			ps.queries = 0
		}
		if err := s.Write(make([]int16, block*2)); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d looks at the room for %d writes", ps.queries, writes)
	if ps.tooBig > 0 {
		t.Errorf("%d writes of more than the room", ps.tooBig)
	}
	if ps.queries > 2*writes {
		t.Errorf("%d looks at the room for %d writes, want at most %d", ps.queries, writes, 2*writes)
	}
}
