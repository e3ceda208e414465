//go:build cgo

package portaudio

/*
#cgo pkg-config: portaudio-2.0
#include <portaudio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// loaxa_ring queues interleaved int16 frames from one writer (Go) to one
// reader (PortAudio's stream callback, on the audio system's thread). The
// counters run free: w - r is what is queued. Go copies frames in, then
// advances w; the callback copies frames out, then advances r.
typedef struct {
	uint32_t w;        // frames written; Go stores it
	uint32_t r;        // frames played; the callback stores it
	uint32_t starved;  // callbacks that ran short mid-play
	uint32_t period;   // frames the callback was last asked for
	uint32_t draining; // Go: running short now is the end, not an underrun
	uint32_t dry;      // the last callback ran short: one underrun, however long
	uint32_t cap;      // frames, a power of two
	uint32_t ch;
	int16_t *buf;      // cap * ch samples
} loaxa_ring;

static int loaxa_ring_play(const void *in, void *out, unsigned long n,
		const PaStreamCallbackTimeInfo *ti, PaStreamCallbackFlags flags, void *user) {
	loaxa_ring *q = user;
	int16_t *o = out;
	uint32_t r = q->r;
	uint32_t k = __atomic_load_n(&q->w, __ATOMIC_ACQUIRE) - r;
	if (k > n)
		k = n;
	uint32_t at = r & (q->cap - 1);
	uint32_t first = q->cap - at;
	if (first > k)
		first = k;
	memcpy(o, q->buf + (size_t)at * q->ch, (size_t)first * q->ch * sizeof *o);
	memcpy(o + (size_t)first * q->ch, q->buf, (size_t)(k - first) * q->ch * sizeof *o);
	if (k < n) {
		memset(o + (size_t)k * q->ch, 0, (size_t)(n - k) * q->ch * sizeof *o);
		if (!q->dry && !__atomic_load_n(&q->draining, __ATOMIC_ACQUIRE))
			__atomic_add_fetch(&q->starved, 1, __ATOMIC_RELEASE);
		q->dry = 1;
	} else {
		q->dry = 0;
	}
	__atomic_store_n(&q->period, (uint32_t)n, __ATOMIC_RELAXED);
	__atomic_store_n(&q->r, r + k, __ATOMIC_RELEASE);
	return paContinue;
}

static PaError loaxa_ring_open(PaStream **s, loaxa_ring *q, PaDeviceIndex dev, double latency, double rate) {
	PaStreamParameters p = {dev, (int)q->ch, paInt16, latency, NULL};
	return Pa_OpenStream(s, NULL, &p, rate, paFramesPerBufferUnspecified, paClipOff | paDitherOff, loaxa_ring_play, q);
}

static double loaxa_output_latency(PaStream *s) {
	const PaStreamInfo *i = Pa_GetStreamInfo(s);
	return i ? i->outputLatency : 0;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"math/bits"
	"sync/atomic"
	"time"
	"unsafe"

	pa "github.com/gordonklaus/portaudio"
)

// ring is an output stream that plays from a queue in C memory: PortAudio
// calls loaxa_ring_play on the audio system's thread for every period,
// and the Sink fills the queue from Go by plain memory writes, no cgo
// call. Used on JACK, whose PortAudio blocking layer is itself such a
// queue behind a callback, but one that Go can only reach through a cgo
// call per look at its room and per write: each such call woke the Go
// runtime's monitor thread, 85–90 times a second while playing MP3, the
// largest cost left in loaxad after the JACK thread itself
// (docs/benchmarks.md). On ALSA, PortAudio's blocking writes go straight
// to the device from the calling thread, without a thread or a queue of
// PortAudio's, and the Sink keeps them.
type ring struct {
	q      *C.loaxa_ring
	stream unsafe.Pointer // a PaStream *
	buf    []int16        // the queue's samples, in C memory
	size   uint32         // frames
	keep   int            // frames a write leaves queued, at least (see writeRing)
	start  int            // frames queued before the stream starts (see writeRing)
	lat    time.Duration  // PortAudio's output latency, read at open
	ch     int            // the stream's channels
	in     int            // the channels of what is written: ch, or 1 on 2 (copied to both)
	w      uint32         // frames written: Go's copy of q.w
	seen   uint32         // the q.starved already counted
	// stalled is set when the callback stopped taking samples (see
	// ringStall): the audio system is gone, and PortAudio's stop would
	// wait for it (PortAudio 19.6 on JACK: ten minutes), so the stream is
	// neither stopped nor closed again.
	stalled bool
}

// openRing opens dev as a callback stream of ch channels playing from a
// queue in which a write of fpb frames fits on top of keep frames, and
// which starts once start frames are queued; in is the channels of what
// will be written (ch, or 1 when ch is 2).
func openRing(dev *pa.DeviceInfo, in, ch int, rate float64, fpb, keep, start int, latency time.Duration) (*ring, error) {
	size := uint32(1) << bits.Len32(uint32(keep+fpb-1)) // a power of two: r & (size-1) indexes it
	q := (*C.loaxa_ring)(C.calloc(1, C.size_t(unsafe.Sizeof(C.loaxa_ring{}))))
	if q == nil {
		return nil, errors.New("out of memory")
	}
	q.buf = (*C.int16_t)(C.calloc(C.size_t(size)*C.size_t(ch), 2))
	if q.buf == nil {
		C.free(unsafe.Pointer(q))
		return nil, errors.New("out of memory")
	}
	q.cap, q.ch = C.uint32_t(size), C.uint32_t(ch)
	var s unsafe.Pointer // PaStream is void
	if err := paError(C.loaxa_ring_open(&s, q, C.PaDeviceIndex(dev.Index), C.double(latency.Seconds()), C.double(rate))); err != nil {
		C.free(unsafe.Pointer(q.buf))
		C.free(unsafe.Pointer(q))
		return nil, err
	}
	return &ring{
		q: q, stream: s, size: size, keep: keep, start: min(start, keep), ch: ch, in: in,
		buf: unsafe.Slice((*int16)(unsafe.Pointer(q.buf)), int(size)*ch),
		lat: time.Duration(float64(C.loaxa_output_latency(s)) * float64(time.Second)),
	}, nil
}

func paError(e C.PaError) error {
	if e == C.paNoError {
		return nil
	}
	return errors.New(C.GoString(C.Pa_GetErrorText(e)))
}

func load(p *C.uint32_t) uint32     { return atomic.LoadUint32((*uint32)(unsafe.Pointer(p))) }
func store(p *C.uint32_t, v uint32) { atomic.StoreUint32((*uint32)(unsafe.Pointer(p)), v) }

// queued returns the frames written and not yet taken by the callback.
func (r *ring) queued() int { return int(r.w - load(&r.q.r)) }

// period returns the frames the callback takes at a time, 0 before it ran.
func (r *ring) period() int { return int(load(&r.q.period)) }

// put copies the whole frames of p (of r.in channels) that fit into the
// queue and makes them playable; it returns the samples taken.
func (r *ring) put(p []int16) int {
	frames := min(len(p)/r.in, int(r.size)-r.queued())
	at := int(r.w & (r.size - 1))
	if r.in == r.ch {
		n := copy(r.buf[at*r.ch:], p[:frames*r.ch])
		copy(r.buf, p[n:frames*r.ch])
	} else {
		for i, v := range p[:frames] { // mono on both channels
			k := ((at + i) & int(r.size-1)) * 2
			r.buf[k], r.buf[k+1] = v, v
		}
	}
	r.w += uint32(frames)
	store(&r.q.w, r.w) // after the copies: the callback reads up to it
	return frames * r.in
}

// underruns returns how many times the callback ran short mid-play since
// the last call.
func (r *ring) underruns() int {
	n := load(&r.q.starved)
	d := n - r.seen
	r.seen = n
	return int(d)
}

// play starts the stream; draining says whether what is queued is all
// there will be (a short item), so that running out is not an underrun.
// The stream is stopped: the callback does not run, and PortAudio's start
// orders these stores before its first call.
func (r *ring) play(draining bool) error {
	r.q.dry = 0
	d := uint32(0)
	if draining {
		d = 1
	}
	store(&r.q.draining, d)
	return paError(C.Pa_StartStream(r.stream))
}

// draining says that the queue may now run out: the item ends.
func (r *ring) draining() { store(&r.q.draining, 1) }

// stop stops the stream after what the callback took has played; the
// queue is left as it is.
func (r *ring) stop() error { return paError(C.Pa_StopStream(r.stream)) }

// close closes the stream and frees the queue; the stream must be
// stopped. If PortAudio cannot close it, the queue is kept: the callback
// may still read it.
func (r *ring) close() error {
	if err := paError(C.Pa_CloseStream(r.stream)); err != nil {
		return err
	}
	C.free(unsafe.Pointer(r.q.buf))
	C.free(unsafe.Pointer(r.q))
	r.q, r.buf = nil, nil
	return nil
}

// ringStall is how long the callback may take nothing from a queue with
// room wanted before a write or a drain gives up: the audio system
// stopped (a JACK server gone). Far above any period.
const ringStall = 2 * time.Second

// errStalled is why a write or a drain on a ring gave up.
var errStalled = fmt.Errorf("the audio system took no sample for %v (stopped?)", ringStall)

// waitRing waits until the queue has at most left frames queued, sleeping
// for the time the callback needs to take the rest, in whole periods.
func (s *Sink) waitRing(left int) error {
	r := s.ring
	if r.stalled {
		return errStalled
	}
	last, since := -1, time.Now()
	for {
		q := r.queued()
		if q <= left {
			return nil
		}
		if q != last {
			last, since = q, time.Now()
		} else if time.Since(since) > ringStall {
			r.stalled = true
			return errStalled
		}
		short := q - left
		if g := r.period(); g > 0 {
			// The callback takes a period at a time: sleeping for part of
			// one wakes too early. Whole periods from any moment take in
			// as many callbacks, and half of one more lets a callback
			// that comes late (JACK's thread is woken by the server, on a
			// busy machine up to milliseconds late) run first: with an
			// eighth, 7 writes in 10 slept twice on this VM.
			short = (short+g-1)/g*g + g/2
		}
		if err := s.timer.Sleep(time.Duration(short) * time.Second / time.Duration(s.f.Rate)); err != nil {
			return err
		}
	}
}

// writeRing is Write on a ring: every write waits until no more than
// r.keep is queued (or a callback's take, if JACK's period grew since),
// so the callbacks of a period always find at least that (the margin for
// a late wake-up), and then queues the write, up to the room; the rest
// after the next wait. The player's 40 ms batches cost one wake-up each;
// live audio's 10 ms blocks keep little more than a transfer queued, not
// the whole queue.
//
// A stopped stream starts once r.start frames are queued, a JACK period
// or more: PortAudio calls back in the same JACK cycle as it starts, and
// a first write shorter than the cycle played, then silence, at the
// start of every item (a first 700-frame write, JACK's period 2,048
// frames: 28 ms of silence after 15 ms of sound).
func (s *Sink) writeRing(p []int16) error {
	r := s.ring
	if r.stalled {
		return fmt.Errorf("portaudio: writing to %s: %w", s.name, errStalled)
	}
	defer s.ringUnderruns()
	for len(p) > 0 {
		if s.running {
			keep := min(max(r.keep, r.period()), int(r.size)-s.fpb)
			if err := s.waitRing(keep); err != nil {
				return fmt.Errorf("portaudio: writing to %s: %w", s.name, err)
			}
		}
		n := r.put(p)
		p = p[n:]
		if !s.running && (r.queued() >= r.start || n == 0) {
			if err := r.play(false); err != nil {
				return fmt.Errorf("portaudio: starting %s: %w", s.name, err)
			}
			s.running = true
		}
	}
	return nil
}

// ringUnderruns adds the underruns the callback counted since the last
// look to the Sink's, and logs them.
func (s *Sink) ringUnderruns() {
	if n := s.ring.underruns(); n > 0 {
		total := s.underruns.Add(int64(n))
		s.log.Warn("audio output underrun", "device", s.name, "underruns", total)
	}
}

// drainRing plays what is queued (starting the stream if it has not
// started: a short item), waits until the callback has taken it all,
// then stops the stream, which returns once that has played. A stalled
// stream is not stopped (see ring.stalled).
func (s *Sink) drainRing() error {
	r := s.ring
	if r.stalled {
		return fmt.Errorf("portaudio: draining %s: %w", s.name, errStalled)
	}
	r.draining()
	if !s.running {
		if r.queued() == 0 {
			return nil
		}
		if err := r.play(true); err != nil {
			return fmt.Errorf("portaudio: starting %s: %w", s.name, err)
		}
	}
	s.running = false
	err := s.waitRing(0)
	s.ringUnderruns()
	if err != nil {
		return fmt.Errorf("portaudio: draining %s: %w", s.name, err)
	}
	if err := r.stop(); err != nil {
		return fmt.Errorf("portaudio: stopping %s: %w", s.name, err)
	}
	return nil
}
