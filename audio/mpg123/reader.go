package mpg123

import (
	"errors"
	"fmt"
	"io"
)

// ErrNoAudio is returned by NewReader when its input ends before any MPEG
// audio frame was found: an empty file, or one that is not MP3 at all.
var ErrNoAudio = errors.New("mpg123: no MPEG audio found in input")

// readChunk is how many compressed bytes a Reader reads from its source at a
// time: about one second of 128 kbit/s audio, small enough that fed input
// never piles up in C memory.
const readChunk = 16 << 10

// maxEmptyReads bounds how often a source may return no bytes and no error in
// a row before a Reader gives up, as bufio does.
const maxEmptyReads = 100

// Reader decodes an MP3 byte stream (a file, or an HTTP body) into
// interleaved signed 16-bit samples. It reads the source only as fast as its
// caller reads samples.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	src    io.Reader
	d      *Decoder
	in     []byte
	srcErr error // sticky: io.EOF or a wrapped read error from src
	read   int64 // compressed bytes read from src, for error messages
}

// NewReader reads r until the first MPEG audio frame, so that Format is known
// when it returns. It fails with an error wrapping ErrNoAudio if r ends
// before any frame, and may block as long as r does. Close the Reader to free
// its decoder; NewReader does not close r.
func NewReader(r io.Reader) (*Reader, error) {
	d, err := NewDecoder()
	if err != nil {
		return nil, err
	}
	rd := &Reader{src: r, d: d, in: make([]byte, readChunk)}
	for {
		_, err := d.Decode(nil)
		switch {
		case errors.Is(err, ErrNewFormat):
			return rd, nil
		case err == nil, errors.Is(err, ErrNeedMore):
			if rd.srcErr != nil {
				d.Close()
				if rd.srcErr == io.EOF {
					return nil, fmt.Errorf("%w (read %d bytes)", ErrNoAudio, rd.read)
				}
				return nil, rd.srcErr
			}
			if err := rd.fill(); err != nil {
				d.Close()
				return nil, err
			}
		case errors.Is(err, io.EOF):
			d.Close()
			return nil, fmt.Errorf("%w (read %d bytes)", ErrNoAudio, rd.read)
		default:
			d.Close()
			return nil, err
		}
	}
}

// fill reads one chunk from the source into the decoder, remembering the
// source's error for when the decoder runs dry.
func (r *Reader) fill() error {
	for range maxEmptyReads {
		n, err := r.src.Read(r.in)
		r.read += int64(n)
		if n > 0 {
			if ferr := r.d.Feed(r.in[:n]); ferr != nil {
				return ferr
			}
		}
		if err != nil {
			if err != io.EOF {
				err = fmt.Errorf("mpg123: reading MP3 input after %d bytes: %w", r.read, err)
			}
			r.srcErr = err
			return nil
		}
		if n > 0 {
			return nil
		}
	}
	r.srcErr = fmt.Errorf("mpg123: reading MP3 input after %d bytes: %w", r.read, io.ErrNoProgress)
	return nil
}

// Read decodes interleaved samples into p and returns how many int16 values
// it wrote, always whole frames (p must hold one sample per channel). At the
// end of the input it returns io.EOF; an input that stops in the middle of a
// frame ends there too, without that partial frame.
//
// If the stream changes rate or channel count midway, Read returns the
// samples of the old format with ErrNewFormat; call Format and read on.
// Other errors are the source's read error or an *Error from libmpg123.
func (r *Reader) Read(p []int16) (int, error) {
	if r.d.h == nil {
		return 0, ErrClosed
	}
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, err := r.d.Decode(p)
		switch {
		case err == nil:
			if n > 0 {
				return n, nil
			}
		case errors.Is(err, ErrNeedMore):
			if n > 0 {
				return n, nil
			}
			if r.srcErr != nil {
				return 0, r.srcErr
			}
			if err := r.fill(); err != nil {
				return 0, err
			}
		default:
			return n, err
		}
	}
}

// Format reports the sample rate in Hz and the channel count of the samples
// that the next Read returns.
func (r *Reader) Format() (rate, channels int) {
	rate, channels, _ = r.d.Format()
	return rate, channels
}

// Close frees the decoder. It does not close the source. It is safe to call
// more than once.
func (r *Reader) Close() error {
	return r.d.Close()
}
