package wav

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/loaxa/loaxa/audio"
)

// ErrMalformed is wrapped by errors about input that is not a well-formed
// WAV file.
var ErrMalformed = errors.New("not a well-formed WAV file")

// ErrUnsupported is wrapped by errors about well-formed WAV files in an
// encoding this package does not play (compressed, more than two
// channels, an unusual sample size or rate).
var ErrUnsupported = errors.New("unsupported WAV encoding")

// unknownSize is the chunk size that writers put while they do not know
// it yet (streams, RF64, recordings still running).
const unknownSize = 0xFFFFFFFF

// Format tags of the fmt chunk.
const (
	tagPCM        = 0x0001
	tagFloat      = 0x0003
	tagExtensible = 0xFFFE
)

// guidSuffix is the tail shared by the KSDATAFORMAT_SUBTYPE GUIDs of
// WAVE_FORMAT_EXTENSIBLE; the first two bytes are the plain format tag.
var guidSuffix = []byte{0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71}

// maxFmtSize bounds the fmt chunk: the largest standard one is 40 bytes;
// a huge one is a corrupt size field.
const maxFmtSize = 1024

// readChunkFrames is how many frames Read converts per call to the
// underlying reader at most.
const readChunkFrames = 4096

// encoding is how one sample is stored.
type encoding int

const (
	encU8 encoding = iota
	encS16
	encS24
	encS32
	encF32
	encF64
)

// Reader streams the samples of a WAV file as int16. It implements
// audio.Source. A Reader is used by one goroutine at a time.
type Reader struct {
	r      io.Reader
	closer io.Closer // closed by Close, if any

	f          audio.Format
	enc        encoding
	width      int   // bytes per sample
	blockAlign int   // bytes per frame
	dataSize   int64 // bytes in the data chunk; -1 when unknown
	dataStart  int64 // offset of the data from where the Reader started
	origin     int64 // offset of the start of the file in r, if seekable

	left int64 // bytes of data not read yet; -1 when unknown
	buf  []byte
	err  error // sticky: returned once the data is exhausted
}

// Open opens the WAV file at path. Close closes the file.
func Open(path string) (*Reader, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("wav: %w", err)
	}
	r, err := NewReader(file)
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	r.closer = file
	return r, nil
}

// NewReader reads the header of the WAV file r up to the start of its
// samples. If r is an io.Closer, Close closes it; if it is an io.Seeker,
// SeekFrame works.
func NewReader(r io.Reader) (*Reader, error) {
	rd := &Reader{r: r, dataSize: -1}
	if c, ok := r.(io.Closer); ok {
		rd.closer = c
	}
	if s, ok := r.(io.Seeker); ok {
		if off, err := s.Seek(0, io.SeekCurrent); err == nil {
			rd.origin = off
		}
	}
	if err := rd.readHeader(); err != nil {
		return nil, err
	}
	rd.left = rd.dataSize
	rd.buf = make([]byte, readChunkFrames*rd.blockAlign)
	return rd, nil
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("wav: %s: %w", fmt.Sprintf(format, args...), ErrMalformed)
}

func unsupported(format string, args ...any) error {
	return fmt.Errorf("wav: %s: %w", fmt.Sprintf(format, args...), ErrUnsupported)
}

// readHeader parses the RIFF header and chunks up to the data chunk.
func (rd *Reader) readHeader() error {
	var pos int64 // bytes consumed
	read := func(p []byte, what string) error {
		n, err := io.ReadFull(rd.r, p)
		pos += int64(n)
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return malformed("file ends inside the %s", what)
		}
		if err != nil {
			return fmt.Errorf("wav: reading the %s: %w", what, err)
		}
		return nil
	}

	var hdr [12]byte
	if err := read(hdr[:], "RIFF header"); err != nil {
		return err
	}
	riff := string(hdr[0:4])
	if (riff != "RIFF" && riff != "RF64") || string(hdr[8:12]) != "WAVE" {
		return malformed("starts with %q, want \"RIFF....WAVE\"", hdr[:])
	}

	haveFmt := false
	for {
		var ch [8]byte
		if err := read(ch[:], "chunk list (no data chunk found)"); err != nil {
			return err
		}
		id := string(ch[0:4])
		size := int64(binary.LittleEndian.Uint32(ch[4:8]))
		switch id {
		case "fmt ":
			if haveFmt {
				return malformed("two fmt chunks")
			}
			if size < 16 || size > maxFmtSize {
				return malformed("fmt chunk of %d bytes, want 16 to 40", size)
			}
			body := make([]byte, size+size&1)
			if err := read(body, "fmt chunk"); err != nil {
				return err
			}
			if err := rd.parseFmt(body[:size]); err != nil {
				return err
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return malformed("data chunk before the fmt chunk")
			}
			if size != unknownSize && riff != "RF64" {
				rd.dataSize = size - size%int64(rd.blockAlign)
			}
			rd.dataStart = pos
			return nil
		default:
			// LIST, fact, cue, bext, ds64…: nothing we play.
			skip := size + size&1
			n, err := io.CopyN(io.Discard, rd.r, skip)
			pos += n
			if errors.Is(err, io.EOF) {
				return malformed("file ends inside a %q chunk before the data chunk", id)
			}
			if err != nil {
				return fmt.Errorf("wav: skipping a %q chunk: %w", id, err)
			}
		}
	}
}

func (rd *Reader) parseFmt(b []byte) error {
	le := binary.LittleEndian
	tag := le.Uint16(b[0:2])
	channels := int(le.Uint16(b[2:4]))
	rate := int(le.Uint32(b[4:8]))
	blockAlign := int(le.Uint16(b[12:14]))
	bits := int(le.Uint16(b[14:16]))
	if tag == tagExtensible {
		if len(b) < 40 {
			return malformed("WAVE_FORMAT_EXTENSIBLE fmt chunk of %d bytes, want 40", len(b))
		}
		guid := b[24:40]
		if !bytes.Equal(guid[2:], guidSuffix) {
			return unsupported("WAVE_FORMAT_EXTENSIBLE sub-format %x: want PCM or IEEE float", guid)
		}
		tag = le.Uint16(guid[0:2])
	}

	if channels != 1 && channels != 2 {
		return unsupported("%d channels: want 1 (mono) or 2 (stereo)", channels)
	}
	f := audio.Format{Rate: rate, Channels: channels}
	if !f.Valid() {
		return unsupported("sample rate %d Hz: want 8000 to 192000 Hz", rate)
	}
	if blockAlign == 0 || blockAlign%channels != 0 {
		return malformed("block align %d for %d channels", blockAlign, channels)
	}
	width := blockAlign / channels
	// The container width decides how samples are stored; bits may be
	// fewer (20-bit audio in 24-bit containers), left-aligned.
	if bits == 0 || bits > 8*width {
		return malformed("%d bits per sample in %d-byte samples", bits, width)
	}
	switch {
	case tag == tagPCM && width == 1:
		rd.enc = encU8
	case tag == tagPCM && width == 2:
		rd.enc = encS16
	case tag == tagPCM && width == 3:
		rd.enc = encS24
	case tag == tagPCM && width == 4:
		rd.enc = encS32
	case tag == tagFloat && width == 4:
		rd.enc = encF32
	case tag == tagFloat && width == 8:
		rd.enc = encF64
	case tag == tagPCM || tag == tagFloat:
		return unsupported("%d-byte samples: want 8-, 16-, 24- or 32-bit integer or 32- or 64-bit float", width)
	default:
		return unsupported("format tag 0x%04x (compressed audio): want PCM (1) or IEEE float (3)", tag)
	}
	rd.f, rd.width, rd.blockAlign = f, width, blockAlign
	return nil
}

// Format returns the format of the samples Read produces: the file's rate
// and channel count, always as int16.
func (rd *Reader) Format() audio.Format { return rd.f }

// Frames returns the number of frames the header announces, or -1 if it
// does not say (a stream, or a recording that was never finalised). A
// truncated file has fewer.
func (rd *Reader) Frames() int64 {
	if rd.dataSize < 0 {
		return -1
	}
	return rd.dataSize / int64(rd.blockAlign)
}

// Duration returns the duration the header announces, or -1 if unknown.
func (rd *Reader) Duration() time.Duration {
	n := rd.Frames()
	if n < 0 {
		return -1
	}
	return time.Duration(n) * time.Second / time.Duration(rd.f.Rate)
}

// Read fills p with whole frames converted to int16. It returns io.EOF at
// the end of the data chunk or of the file, whichever comes first.
func (rd *Reader) Read(p []int16) (int, error) {
	if rd.err != nil {
		return 0, rd.err
	}
	if rd.left == 0 {
		rd.err = io.EOF
		return 0, io.EOF
	}
	frames := min(len(p)/rd.f.Channels, readChunkFrames)
	if frames == 0 {
		return 0, nil
	}
	want := int64(frames * rd.blockAlign)
	if rd.left > 0 {
		want = min(want, rd.left)
	}
	n, err := io.ReadFull(rd.r, rd.buf[:want])
	n -= n % rd.blockAlign // a frame cut short is dropped
	if rd.left > 0 {
		rd.left -= int64(n)
	}
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		rd.err = io.EOF
	case err != nil:
		rd.err = fmt.Errorf("wav: reading samples: %w", err)
	}
	out := rd.convert(p, rd.buf[:n])
	if out == 0 && rd.err != nil {
		return 0, rd.err
	}
	return out, nil
}

// convert decodes b (whole frames) into p and returns the sample count.
func (rd *Reader) convert(p []int16, b []byte) int {
	le := binary.LittleEndian
	n := len(b) / rd.width
	switch rd.enc {
	case encU8:
		for i := range n {
			p[i] = int16(int(b[i])-128) << 8
		}
	case encS16:
		for i := range n {
			p[i] = int16(le.Uint16(b[2*i:]))
		}
	case encS24:
		for i := range n {
			v := int32(uint32(b[3*i])<<8 | uint32(b[3*i+1])<<16 | uint32(b[3*i+2])<<24)
			p[i] = from32(v)
		}
	case encS32:
		for i := range n {
			p[i] = from32(int32(le.Uint32(b[4*i:])))
		}
	case encF32:
		for i := range n {
			p[i] = fromFloat(float64(math.Float32frombits(le.Uint32(b[4*i:]))))
		}
	case encF64:
		for i := range n {
			p[i] = fromFloat(math.Float64frombits(le.Uint64(b[8*i:])))
		}
	}
	return n
}

// from32 rounds a left-aligned 32-bit sample to 16 bits.
func from32(v int32) int16 {
	return int16(min((int64(v)+1<<15)>>16, math.MaxInt16))
}

// fromFloat maps ±1.0 to full scale, clipping what lies beyond.
func fromFloat(x float64) int16 {
	x = math.Round(x * 32768)
	switch {
	case x != x:
		return 0
	case x >= math.MaxInt16:
		return math.MaxInt16
	case x <= math.MinInt16:
		return math.MinInt16
	}
	return int16(x)
}

// SeekFrame moves to frame n of the data (0 is the first), so that a
// file interrupted by a higher-priority item resumes where it stopped. It
// needs an io.Seeker underneath.
func (rd *Reader) SeekFrame(n int64) error {
	s, ok := rd.r.(io.Seeker)
	if !ok {
		return fmt.Errorf("wav: cannot seek: the input is a stream")
	}
	if n < 0 || (rd.dataSize >= 0 && n > rd.Frames()) {
		return fmt.Errorf("wav: cannot seek to frame %d: the file has %d frames", n, rd.Frames())
	}
	off := n * int64(rd.blockAlign)
	if _, err := s.Seek(rd.origin+rd.dataStart+off, io.SeekStart); err != nil {
		return fmt.Errorf("wav: seek to frame %d: %w", n, err)
	}
	rd.left = -1
	if rd.dataSize >= 0 {
		rd.left = rd.dataSize - off
	}
	rd.err = nil
	return nil
}

// Close closes the underlying file or reader, if it can be closed.
func (rd *Reader) Close() error {
	rd.err = errors.New("wav: read after close")
	if rd.closer == nil {
		return nil
	}
	c := rd.closer
	rd.closer = nil
	return c.Close()
}
