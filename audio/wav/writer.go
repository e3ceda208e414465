package wav

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/loaxa/loaxa/audio"
)

// headerSize is the size of the canonical 16-bit PCM header the Writer
// writes: RIFF header, 16-byte fmt chunk, data chunk header.
const headerSize = 44

// maxData is the most sample data a RIFF size field can describe.
const maxData = unknownSize - (headerSize - 8) - 1

// ErrTooLarge is returned by Write when a seekable file would exceed the
// 4 GiB that WAV sizes can describe.
var ErrTooLarge = errors.New("wav: file would exceed the 4 GiB limit of WAV")

// Writer writes 16-bit PCM WAV. It implements audio.Sink (without pacing:
// Write returns as soon as the bytes are written). A Writer is used by one
// goroutine at a time.
type Writer struct {
	w      io.Writer
	s      io.Seeker // nil for a stream
	origin int64     // offset of the header in s
	f      audio.Format
	data   int64 // bytes of samples written
	synced int64 // data size last written to the header
	buf    []byte
	closed bool
}

// NewWriter writes a WAV header for f to w and returns a Writer for the
// samples. Flush and Close fix up the sizes in the header, so a reader
// sees a complete file; Close does not close w.
func NewWriter(w io.WriteSeeker, f audio.Format) (*Writer, error) {
	origin, err := w.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, fmt.Errorf("wav: %w", err)
	}
	return newWriter(w, w, origin, f)
}

// NewStreamWriter writes a WAV header for f to a stream that cannot seek
// back (a pipe, an HTTP response). The sizes in the header say "unknown",
// so readers read to the end of the stream.
func NewStreamWriter(w io.Writer, f audio.Format) (*Writer, error) {
	return newWriter(w, nil, 0, f)
}

func newWriter(w io.Writer, s io.Seeker, origin int64, f audio.Format) (*Writer, error) {
	if !f.Valid() {
		return nil, fmt.Errorf("wav: cannot write %v: rate must be 8000–192000 Hz and channels 1 or 2", f)
	}
	wr := &Writer{w: w, s: s, origin: origin, f: f, synced: -1}
	if _, err := w.Write(header(f, unknownSize, unknownSize)); err != nil {
		return nil, fmt.Errorf("wav: writing the header: %w", err)
	}
	return wr, nil
}

// header returns the 44-byte header with the given RIFF and data sizes.
func header(f audio.Format, riffSize, dataSize uint32) []byte {
	le := binary.LittleEndian
	h := make([]byte, 0, headerSize)
	h = append(h, "RIFF"...)
	h = le.AppendUint32(h, riffSize)
	h = append(h, "WAVEfmt "...)
	h = le.AppendUint32(h, 16)
	h = le.AppendUint16(h, tagPCM)
	h = le.AppendUint16(h, uint16(f.Channels))
	h = le.AppendUint32(h, uint32(f.Rate))
	h = le.AppendUint32(h, uint32(f.Rate*f.Channels*2)) // bytes per second
	h = le.AppendUint16(h, uint16(f.Channels*2))        // block align
	h = le.AppendUint16(h, 16)                          // bits per sample
	h = append(h, "data"...)
	h = le.AppendUint32(h, dataSize)
	return h
}

// String describes the writer.
func (w *Writer) String() string { return fmt.Sprintf("WAV writer (%v)", w.f) }

// Format returns the format of the samples the Writer takes.
func (w *Writer) Format() audio.Format { return w.f }

// Frames returns the number of frames written so far.
func (w *Writer) Frames() int64 { return w.data / int64(2*w.f.Channels) }

// Write appends samples (whole frames) to the file.
func (w *Writer) Write(p []int16) error {
	if w.closed {
		return errors.New("wav: write after close")
	}
	if len(p)%w.f.Channels != 0 {
		return fmt.Errorf("wav: %d samples is not a whole number of %d-channel frames", len(p), w.f.Channels)
	}
	if w.s != nil && w.data+2*int64(len(p)) > maxData {
		return ErrTooLarge
	}
	w.buf = w.buf[:0]
	for _, s := range p {
		w.buf = binary.LittleEndian.AppendUint16(w.buf, uint16(s))
	}
	n, err := w.w.Write(w.buf)
	w.data += int64(n - n%2)
	if err != nil {
		return fmt.Errorf("wav: writing samples: %w", err)
	}
	return nil
}

// Flush writes the current sizes into the header of a seekable file, so
// that a reader opening it now sees every sample written so far. It does
// nothing on a stream.
func (w *Writer) Flush() error {
	if w.s == nil || w.synced == w.data {
		return nil
	}
	le := binary.LittleEndian
	var b [4]byte
	put := func(off int64, v uint32) error {
		if _, err := w.s.Seek(w.origin+off, io.SeekStart); err != nil {
			return err
		}
		le.PutUint32(b[:], v)
		_, err := w.w.Write(b[:])
		return err
	}
	err := put(4, uint32(headerSize-8+w.data))
	if err == nil {
		err = put(40, uint32(w.data))
	}
	if _, serr := w.s.Seek(w.origin+headerSize+w.data, io.SeekStart); err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("wav: updating the header: %w", err)
	}
	w.synced = w.data
	return nil
}

// Close fixes up the header (on a seekable file). It does not close the
// underlying writer. Calling Close again does nothing.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	return w.Flush()
}
