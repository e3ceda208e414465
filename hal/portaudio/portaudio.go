//go:build cgo

package portaudio

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	pa "github.com/gordonklaus/portaudio"

	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/hal"
	"github.com/loaxa/loaxa/internal/timerfd"
)

// paMu serialises PortAudio's process-wide initialisation, termination and
// device enumeration: Pa_Initialize and Pa_Terminate are not thread-safe,
// and the Go binding caches the device list in unsynchronised package
// variables.
var paMu sync.Mutex

// writing counts the writes in progress in every Sink, and the streams
// left open because their audio system stopped (see ring.stalled). A
// write that never returns (a wedged device) leaves PortAudio in a state
// where opening another stream corrupts the process's memory (seen:
// "malloc(): invalid size" inside Pa_OpenStream, then SIGABRT), so Open
// refuses while one is in progress. Like paMu, this process-wide state is
// forced by the C library.
var writing atomic.Int32

// ErrWedged is wrapped by Open's error while a write of another Sink is
// stuck in the driver, or after a Sink's audio system stopped mid-play
// (its stream is left open): PortAudio cannot safely open a stream in
// this process; restarting the process is the cure.
var ErrWedged = errors.New("the audio driver is stuck (a write that does not return, or an audio system that stopped mid-play); PortAudio cannot open another stream in this process: restart the agent")

// Sink plays PCM on a PortAudio output device. Write, Drain and Close are
// called by one goroutine (the pipeline's); Underruns, Latency and String
// by any.
type Sink struct {
	f      audio.Format
	name   string // "ALSA: default"
	fpb    int
	log    *slog.Logger
	stream stream
	// buf is the slice the stream writes from: the binding reads it
	// through a pointer given at OpenStream, so Write points it at the
	// part of own to play.
	buf []int16
	own []int16
	// ring is set on JACK: the stream plays from a queue in C memory
	// instead, and stream is nil (see ring).
	ring *ring

	running   bool // the stream is started
	closed    bool
	underruns atomic.Int64

	// timer waits for room in the device's buffer before a write (nil:
	// the write blocks in PortAudio). room is the most room ever seen:
	// the buffer's size, learnt at the first write.
	timer *timerfd.Timer
	room  int
	// grain is the step in which the device frees room, its period as
	// far as seen: the greatest common divisor of the room it freed while
	// the Sink waited (0 until then).
	grain int
}

// stream is the part of *pa.Stream the Sink uses, so that tests can
// exercise Write's underflow handling with a stream that underflows on
// demand.
type stream interface {
	Start() error
	Stop() error
	Write() error
	AvailableToWrite() (int, error)
	Close() error
	Info() *pa.StreamInfo
}

// Open initialises PortAudio and opens an output stream on the device
// o.Device in format o.Format. The stream starts on the first Write.
func Open(o Options) (*Sink, error) {
	if !o.Format.Valid() {
		return nil, fmt.Errorf("portaudio: format %v: rate must be 8000–192000 Hz and channels 1 or 2", o.Format)
	}
	if o.FramesPerBuffer < 0 || o.FramesPerBuffer > 1<<16 {
		return nil, fmt.Errorf("portaudio: %d frames per buffer: want 0 (default) to 65536", o.FramesPerBuffer)
	}
	fpb := o.FramesPerBuffer
	if fpb == 0 {
		fpb = DefaultFramesPerBuffer
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	paMu.Lock()
	defer paMu.Unlock()
	if n := writing.Load(); n > 0 {
		return nil, fmt.Errorf("portaudio: opening %q: %w", o.Device, ErrWedged)
	}
	if err := pa.Initialize(); err != nil {
		return nil, fmt.Errorf("portaudio: no usable audio system (%v): %w", err, hal.ErrAbsent)
	}
	s, err := open(o, fpb, log)
	if err != nil {
		if terr := pa.Terminate(); terr != nil {
			err = errors.Join(err, fmt.Errorf("portaudio: terminate: %w", terr))
		}
		return nil, err
	}
	return s, nil
}

// open does the part of Open that needs PortAudio initialised; paMu is held.
func open(o Options, fpb int, log *slog.Logger) (*Sink, error) {
	devs, err := pa.Devices()
	if err != nil {
		return nil, fmt.Errorf("portaudio: listing devices: %w", err)
	}
	var def *pa.DeviceInfo
	if o.Device == "" {
		def, err = pa.DefaultOutputDevice()
		if err != nil && !errors.Is(err, pa.NoDefaultOutputDevice) {
			return nil, fmt.Errorf("portaudio: default output device: %w", err)
		}
	}
	dev, err := pickDevice(devs, o.Device, def)
	if err != nil {
		return nil, err
	}

	latency := o.Latency
	if latency <= 0 {
		latency = dev.DefaultHighOutputLatency
	}
	s := &Sink{f: o.Format, name: deviceName(dev), fpb: fpb, log: log}
	params := pa.StreamParameters{
		Output:          pa.StreamDeviceParameters{Device: dev, Channels: o.Format.Channels, Latency: latency},
		SampleRate:      float64(o.Format.Rate),
		FramesPerBuffer: fpb,
		// Samples are int16 already: no dither; saturation was done by
		// the pipeline, so no clipping pass either.
		Flags: pa.DitherOff | pa.ClipOff,
	}
	if dev.HostApi != nil && dev.HostApi.Type == pa.JACK {
		if dev.MaxOutputChannels < o.Format.Channels {
			return nil, fmt.Errorf("portaudio: %s has %d playback port(s), %v needs %d", s.name, dev.MaxOutputChannels, o.Format, o.Format.Channels)
		}
		if s.timer, err = timerfd.New(); err != nil {
			return nil, fmt.Errorf("portaudio: opening %s: %w", s.name, err)
		}
		// A write leaves a transfer queued, or JACK's latency when that
		// is more: PortAudio's callbacks of one JACK period come one
		// after the other (with JACK's period at 2,048 frames, two of
		// 1,024), so the queue must hold a whole period at every write.
		// A stopped stream starts once half of that latency is queued, a
		// period (see writeRing).
		lat := int(math.Round(dev.DefaultHighOutputLatency.Seconds() * float64(o.Format.Rate)))
		keep := max(fpb, lat)
		// Mono plays on two ports where there are two, as a mono card
		// plays it on both speakers (JACK connects port by port).
		ch := max(o.Format.Channels, min(2, dev.MaxOutputChannels))
		if s.ring, err = openRing(dev, o.Format.Channels, ch, float64(o.Format.Rate), fpb, keep, max(1, lat/2), latency); err != nil {
			s.timer.Close()
			return nil, fmt.Errorf("portaudio: opening %s for %v: %w", s.name, o.Format, err)
		}
		return s, nil
	}
	s.own = make([]int16, fpb*o.Format.Channels)
	s.stream, err = pa.OpenStream(params, &s.buf)
	if err != nil {
		return nil, fmt.Errorf("portaudio: opening %s for %v: %w", s.name, o.Format, err)
	}
	s.timer, _ = timerfd.New() // none: writes block in PortAudio
	return s, nil
}

func deviceName(d *pa.DeviceInfo) string {
	if d.HostApi != nil {
		return d.HostApi.Name + ": " + d.Name
	}
	return d.Name
}

// pickDevice finds the output device called name among devs; "" means def.
func pickDevice(devs []*pa.DeviceInfo, name string, def *pa.DeviceInfo) (*pa.DeviceInfo, error) {
	var outs []*pa.DeviceInfo
	for _, d := range devs {
		if d.MaxOutputChannels > 0 {
			outs = append(outs, d)
		}
	}
	if len(outs) == 0 {
		return nil, fmt.Errorf("portaudio: no audio output device on this host: %w", hal.ErrAbsent)
	}
	if name == "" {
		if def == nil {
			return nil, fmt.Errorf("portaudio: no default audio output device (outputs: %s): %w", names(outs), hal.ErrAbsent)
		}
		return def, nil
	}
	for _, d := range outs {
		if d.Name == name {
			return d, nil
		}
	}
	var match []*pa.DeviceInfo
	for _, d := range outs {
		if strings.Contains(strings.ToLower(d.Name), strings.ToLower(name)) {
			match = append(match, d)
		}
	}
	switch len(match) {
	case 0:
		return nil, fmt.Errorf("portaudio: no output device %q (outputs: %s): %w", name, names(outs), hal.ErrAbsent)
	case 1:
		return match[0], nil
	}
	return nil, fmt.Errorf("portaudio: output device %q is ambiguous: it could be %s", name, names(match))
}

func names(devs []*pa.DeviceInfo) string {
	q := make([]string, len(devs))
	for i, d := range devs {
		q[i] = fmt.Sprintf("%q", d.Name)
	}
	return strings.Join(q, ", ")
}

// Devices returns the names of the output devices PortAudio sees, for a
// technician choosing one. An empty list and an error wrapping
// hal.ErrAbsent mean there is none.
func Devices() ([]string, error) {
	paMu.Lock()
	defer paMu.Unlock()
	if err := pa.Initialize(); err != nil {
		return nil, fmt.Errorf("portaudio: no usable audio system (%v): %w", err, hal.ErrAbsent)
	}
	defer pa.Terminate()
	devs, err := pa.Devices()
	if err != nil {
		return nil, fmt.Errorf("portaudio: listing devices: %w", err)
	}
	var out []string
	for _, d := range devs {
		if d.MaxOutputChannels > 0 {
			out = append(out, d.Name)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("portaudio: no audio output device on this host: %w", hal.ErrAbsent)
	}
	return out, nil
}

// String names the device and the format, e.g.
// `PortAudio ALSA: default (48000 Hz × 2 ch)`.
func (s *Sink) String() string { return fmt.Sprintf("PortAudio %s (%v)", s.name, s.f) }

// Format returns the format the stream plays.
func (s *Sink) Format() audio.Format { return s.f }

// Write queues p (whole frames) for the device, blocking while its buffer
// is full. An underflow that PortAudio reports (the device ran dry before
// these samples) is counted, not returned.
func (s *Sink) Write(p []int16) error {
	if s.closed {
		return errors.New("portaudio: write after close")
	}
	ch := s.f.Channels
	if len(p)%ch != 0 {
		return fmt.Errorf("portaudio: %d samples is not a whole number of %d-channel frames", len(p), ch)
	}
	if s.ring != nil {
		return s.writeRing(p)
	}
	if len(p) > 0 && !s.running {
		if err := s.stream.Start(); err != nil {
			return fmt.Errorf("portaudio: starting %s: %w", s.name, err)
		}
		s.running = true
	}
	for len(p) > 0 {
		frames := min(len(p)/ch, s.fpb)
		if avail := s.waitRoom(frames); avail > 0 {
			// Only what fits: more would block in PortAudio until the
			// device has played the rest (see waitRoom).
			frames = min(frames, avail)
		}
		n := frames * ch
		s.buf = s.own[:n]
		copy(s.buf, p)
		p = p[n:]
		writing.Add(1)
		err := s.stream.Write()
		writing.Add(-1)
		switch {
		case errors.Is(err, pa.OutputUnderflowed):
			// The samples were written; the device had played silence
			// before them.
			n := s.underruns.Add(1)
			s.log.Warn("audio output underrun", "device", s.name, "underruns", n)
		case err != nil:
			return fmt.Errorf("portaudio: writing to %s: %w", s.name, err)
		}
	}
	return nil
}

// maxRoomWaits bounds the waits for room before one Write: a device that
// stops consuming is left to block in PortAudio, where the caller's
// watchdog (audio/guard) sees it.
const maxRoomWaits = 4

// waitRoom waits until the device's buffer has room for frames, or for
// half of it when frames is more, sleeping for as long as the device
// needs to play the difference; about half of the buffer is then still
// queued when the write lands: the margin for a late wake-up (JACK has
// its own queue: see writeRing). It returns the room last seen, 0 when it
// could not tell.
//
// A write that does not fit blocks in PortAudio, holding its thread in C
// until the device has played enough, in steps of its period; for the Go
// runtime that is a long system call, after which its monitor thread
// takes the processor away and is woken again when the call returns,
// several wake-ups per write. Waiting here and writing only what fits
// makes the write return at once (docs/benchmarks.md has the CPU it
// saves).
func (s *Sink) waitRoom(frames int) int {
	if s.timer == nil {
		return 0
	}
	avail, last := 0, -1
	for range maxRoomWaits {
		var err error
		avail, err = s.stream.AvailableToWrite()
		if err != nil {
			return 0 // the write says what is wrong
		}
		if last >= 0 && avail > last {
			s.grain = gcd(s.grain, avail-last)
		}
		last = avail
		s.room = max(s.room, avail)
		need := min(frames, max(1, s.room/2))
		if avail >= need {
			return avail
		}
		// A device frees its buffer a period at a time (JACK's 480
		// frames): sleeping for part of one wakes too early, then again.
		// Whole periods from any moment take in exactly as many period
		// ends, so the wait is rounded up to them.
		short := need - avail
		if g := s.grain; g > 1 && g <= s.fpb/2 {
			short = (short + g - 1) / g * g
		}
		d := time.Duration(short) * time.Second / time.Duration(s.f.Rate)
		if s.timer.Sleep(d) != nil {
			return avail
		}
	}
	return avail
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// Drain waits until everything written has been played, then stops the
// stream; the next Write starts it again. Call it at the end of an item,
// before switching relays off: the pause that follows is not an underrun.
func (s *Sink) Drain() error {
	if s.closed {
		return errors.New("portaudio: drain after close")
	}
	if s.ring != nil {
		return s.drainRing()
	}
	if !s.running {
		return nil
	}
	s.running = false
	if err := s.stream.Stop(); err != nil {
		return fmt.Errorf("portaudio: stopping %s: %w", s.name, err)
	}
	return nil
}

// Underruns returns how many times the device ran out of samples while
// playing.
func (s *Sink) Underruns() int { return int(s.underruns.Load()) }

// Latency returns the output latency PortAudio reports for the stream:
// how long a sample takes from Write to the loudspeaker, at most. On JACK
// it leaves out the Sink's own queue (a transfer or more: see
// writeRing), which PortAudio does not see.
func (s *Sink) Latency() time.Duration {
	if s.ring != nil {
		return s.ring.lat
	}
	if info := s.stream.Info(); info != nil {
		return info.OutputLatency
	}
	return 0
}

// Close plays out what is queued, closes the stream and releases
// PortAudio. Calling it again does nothing.
func (s *Sink) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	switch {
	case s.ring != nil:
		if err := s.drainRing(); err != nil {
			errs = append(errs, err)
		}
		if s.ring.stalled {
			// PortAudio's stop waits for a callback that will not come
			// (PortAudio 19.6 on JACK: ten minutes). The stream stays as
			// it is, and so does PortAudio: this process cannot use it
			// safely again.
			writing.Add(1)
			errs = append(errs, fmt.Errorf("portaudio: closing %s: its stream is left open: %w", s.name, ErrWedged))
			s.timer.Close()
			return errors.Join(errs...)
		}
		if err := s.ring.close(); err != nil {
			errs = append(errs, fmt.Errorf("portaudio: closing %s: %w", s.name, err))
		}
	default:
		if s.running {
			s.running = false
			if err := s.stream.Stop(); err != nil {
				errs = append(errs, fmt.Errorf("portaudio: stopping %s: %w", s.name, err))
			}
		}
		if err := s.stream.Close(); err != nil {
			errs = append(errs, fmt.Errorf("portaudio: closing %s: %w", s.name, err))
		}
	}
	if s.timer != nil { // after the drain, which sleeps on it
		s.timer.Close()
	}
	paMu.Lock()
	defer paMu.Unlock()
	if err := pa.Terminate(); err != nil {
		errs = append(errs, fmt.Errorf("portaudio: terminate: %w", err))
	}
	return errors.Join(errs...)
}
