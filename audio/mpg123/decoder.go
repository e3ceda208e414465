package mpg123

/*
#cgo pkg-config: libmpg123
#include <stdlib.h>
#include <mpg123.h>

// mpg123_init stopped doing anything in API 46 (libmpg123 1.27). Refusing
// older headers here lets the Go side skip it, and with it the package-level
// "init once" guard that older versions would need.
#if MPG123_API_VERSION < 46
#error "audio/mpg123 needs libmpg123 >= 1.27 (API 46); Debian 12 ships 1.31"
#endif

// loaxa_mpg123_setup configures a fresh handle for the binding and opens it
// in feed mode. It is one C call instead of a dozen cgo crossings. It returns
// MPG123_OK or an error code.
static int loaxa_mpg123_setup(mpg123_handle *h) {
	const long *rates;
	size_t nrates, i;
	int err;

	// Messages on stderr would end up in the agent's journal for every
	// corrupt frame of a bad stream; errors come back as return codes instead.
	// ID3v2 tags are skipped unparsed: loaxa does not read them, and parsing
	// untrusted tags is code we need not run.
	err = mpg123_param(h, MPG123_ADD_FLAGS, MPG123_QUIET | MPG123_SKIP_ID3V2, 0.0);
	if (err != MPG123_OK) return mpg123_errcode(h);
	// Without a limit libmpg123 searches for the next valid frame until the
	// stream ends: a network stream with a burst of garbage recovers instead
	// of failing.
	err = mpg123_param(h, MPG123_RESYNC_LIMIT, -1, 0.0);
	if (err != MPG123_OK) return mpg123_errcode(h);

	// Signed 16-bit at the stream's own rate and channel count, nothing else:
	// no float output, no resampling.
	err = mpg123_format_none(h);
	if (err != MPG123_OK) return mpg123_errcode(h);
	mpg123_rates(&rates, &nrates);
	for (i = 0; i < nrates; i++) {
		err = mpg123_format(h, rates[i], MPG123_MONO | MPG123_STEREO, MPG123_ENC_SIGNED_16);
		if (err != MPG123_OK) return mpg123_errcode(h);
	}

	err = mpg123_open_feed(h);
	if (err != MPG123_OK) return mpg123_errcode(h);
	return MPG123_OK;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"unsafe"
)

// ErrNeedMore is returned by Decoder.Decode when all fed input has been
// decoded and more compressed bytes must be fed before more samples come out.
// It is not a failure: feed more input, or stop if the input has ended.
var ErrNeedMore = errors.New("mpg123: need more input")

// ErrNewFormat is returned by Decoder.Decode when the output format is set or
// changes: once at the start of every stream, and again if a stream switches
// rate or channel count midway (concatenated streams do). Samples returned
// with it are still in the old format; Format reports the new one, which
// applies from the next call on.
var ErrNewFormat = errors.New("mpg123: new output format")

// ErrClosed is returned when a Decoder or Reader is used after Close.
var ErrClosed = errors.New("mpg123: decoder is closed")

// Error is a failure reported by libmpg123, with the operation that failed.
type Error struct {
	// Op names what the binding was doing: "new", "setup", "feed" or "decode".
	Op string
	// Code is libmpg123's error code (enum mpg123_errors in mpg123.h).
	Code int
	// Msg is libmpg123's description of the error.
	Msg string
}

func (e *Error) Error() string {
	return fmt.Sprintf("mpg123: %s: %s (libmpg123 code %d)", e.Op, e.Msg, e.Code)
}

// libError builds an *Error for a return value of a libmpg123 call. Calls that
// return the generic MPG123_ERR leave the real code in the handle.
func libError(op string, h *C.mpg123_handle, ret C.int) *Error {
	code := ret
	if code == C.MPG123_ERR && h != nil {
		code = C.mpg123_errcode(h)
	}
	return &Error{Op: op, Code: int(code), Msg: C.GoString(C.mpg123_plain_strerror(code))}
}

// Decoder decodes MPEG audio (MP3, and MP1/MP2) pushed to it in chunks of any
// size into interleaved signed 16-bit samples at the stream's own rate and
// channel count.
//
// A Decoder is not safe for concurrent use: one goroutine feeds and decodes.
// It is not tied to an OS thread, so that goroutine may move between threads.
// Different Decoders are independent and may run in parallel.
type Decoder struct {
	h        *C.mpg123_handle
	cleanup  runtime.Cleanup
	rate     int
	channels int
	work     int // decoding work since the last yield, in samples; see yield
}

// NewDecoder returns a Decoder ready to be fed. Close it to free its C memory.
func NewDecoder() (*Decoder, error) {
	var cerr C.int
	h := C.mpg123_new(nil, &cerr)
	if h == nil {
		return nil, libError("new", nil, cerr)
	}
	if ret := C.loaxa_mpg123_setup(h); ret != C.MPG123_OK {
		err := libError("setup", h, ret)
		C.mpg123_delete(h)
		return nil, err
	}
	d := &Decoder{h: h}
	// A safety net for a Decoder dropped without Close; Close stops it, so
	// the handle is never freed twice.
	d.cleanup = runtime.AddCleanup(d, func(h *C.mpg123_handle) { C.mpg123_delete(h) }, h)
	return d, nil
}

// Feed pushes compressed bytes into the decoder. libmpg123 copies them, so p
// may be reused as soon as Feed returns. Fed bytes stay in C memory until
// Decode consumes them: feed about as fast as you decode.
func (d *Decoder) Feed(p []byte) error {
	if d.h == nil {
		return ErrClosed
	}
	if len(p) == 0 {
		return nil
	}
	ret := C.mpg123_feed(d.h, (*C.uchar)(unsafe.Pointer(&p[0])), C.size_t(len(p)))
	if ret != C.MPG123_OK {
		return libError("feed", d.h, ret)
	}
	return nil
}

// Decode writes decoded interleaved samples into out and returns how many
// int16 values it wrote (frames × channels). It writes whole frames only, so
// out must hold at least one sample per channel.
//
// The error is nil when samples or more decodable input remain, ErrNeedMore
// when the decoder must be fed, ErrNewFormat when the output format was set or
// changed (see ErrNewFormat), io.EOF when the stream announced its end, or an
// *Error. n may be non-zero with any of them; use the n samples first.
//
// A corrupt stretch of input makes libmpg123 search for the next valid frame
// on its own; an *Error means it could not go on.
//
// With an empty out, Decode parses input until the format is known or samples
// are ready, without taking any.
func (d *Decoder) Decode(out []int16) (n int, err error) {
	if d.h == nil {
		return 0, ErrClosed
	}
	want := len(out)
	if d.channels > 0 {
		want -= want % d.channels
		if want == 0 && len(out) > 0 {
			return 0, fmt.Errorf("mpg123: decode: out holds %d samples, need at least %d (one per channel)", len(out), d.channels)
		}
	}
	var probe [1]int16
	ptr := unsafe.Pointer(&probe[0])
	if want > 0 {
		ptr = unsafe.Pointer(&out[0])
	}
	d.yield(want)
	var done C.size_t
	ret := C.mpg123_read(d.h, ptr, C.size_t(want*2), &done)
	n = int(done / 2)
	switch ret {
	case C.MPG123_OK:
		return n, nil
	case C.MPG123_NEED_MORE:
		return n, ErrNeedMore
	case C.MPG123_DONE:
		return n, io.EOF
	case C.MPG123_NEW_FORMAT:
		var rate C.long
		var channels, enc C.int
		if r := C.mpg123_getformat(d.h, &rate, &channels, &enc); r != C.MPG123_OK {
			return n, libError("decode", d.h, r)
		}
		if enc != C.MPG123_ENC_SIGNED_16 {
			// The format table set up in NewDecoder allows nothing else.
			return n, fmt.Errorf("mpg123: decode: libmpg123 chose encoding %#x, want signed 16-bit", int(enc))
		}
		d.rate, d.channels = int(rate), int(channels)
		return n, ErrNewFormat
	default:
		return n, libError("decode", d.h, ret)
	}
}

// yieldWork is how much decoding a goroutine does between passes through
// the scheduler: about 0.1 s of stereo 44.1 kHz audio, under 10 ms of CPU
// even on a Raspberry Pi 3.
const yieldWork = 8192

// yield passes through the Go scheduler every yieldWork samples of
// requested output (each call counts as 256 more, for the work of a call
// that finds little). A goroutine that makes back-to-back cgo calls for
// longer than the scheduler's 10 ms time slice without ever being
// rescheduled has its P taken away by sysmon at every tick (20 µs) from then
// on, waking an idle thread each time: measured here (Go 1.26, amd64), that
// cost a tight decode loop 12–17% more CPU than the same loop written in C.
// Yielding resets the time slice and brought it to within 3% of C.
func (d *Decoder) yield(want int) {
	d.work += want + 256
	if d.work >= yieldWork {
		d.work = 0
		runtime.Gosched()
	}
}

// Format reports the current output format. ok is false until Decode has
// returned ErrNewFormat for the first time.
func (d *Decoder) Format() (rate, channels int, ok bool) {
	return d.rate, d.channels, d.channels > 0
}

// Close frees the decoder's C memory, including any fed input not yet
// decoded. It is safe to call more than once; later calls do nothing.
func (d *Decoder) Close() error {
	if d.h == nil {
		return nil
	}
	d.cleanup.Stop()
	C.mpg123_delete(d.h)
	d.h = nil
	return nil
}

// decoderName reports which of libmpg123's CPU-specific decoders the handle
// uses (for benchmarks: "AVX", "NEON64", ...).
func (d *Decoder) decoderName() string {
	if d.h == nil {
		return ""
	}
	return C.GoString(C.mpg123_current_decoder(d.h))
}
