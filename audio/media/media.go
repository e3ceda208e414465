package media

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/audio/mpg123"
	"github.com/loaxa/loaxa/audio/wav"
)

// MaxNameLen is the longest valid media name.
const MaxNameLen = 128

var (
	// ErrName: a media name breaks the rules of ValidName.
	ErrName = errors.New("invalid media name")
	// ErrFormat: a media file is neither MP3 nor WAV, or it is corrupt.
	ErrFormat = errors.New("not a playable MP3 or WAV file")
	// ErrFormatChanged: an MP3 file switches sample rate or channel count
	// for longer than a corrupt frame would (see File.Read).
	ErrFormatChanged = errors.New("audio format changes inside the file")
)

// Kind is the container of a media file.
type Kind string

// The kinds of media file.
const (
	MP3 Kind = "mp3"
	WAV Kind = "wav"
)

// ValidName checks a media name: 1 to MaxNameLen characters from
// A–Z a–z 0–9 . _ -, not starting with a dot, without "..". The error
// wraps ErrName and says which rule was broken.
func ValidName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrName)
	case len(name) > MaxNameLen:
		return fmt.Errorf("%w: %d characters, at most %d", ErrName, len(name), MaxNameLen)
	case name[0] == '.':
		return fmt.Errorf("%w %q: starts with a dot", ErrName, name)
	case strings.Contains(name, ".."):
		return fmt.Errorf("%w %q: contains \"..\"", ErrName, name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w %q: character %q at %d; allowed are A-Z a-z 0-9 . _ -", ErrName, name, rune(name[i]), i)
		}
	}
	return nil
}

// Entry describes one file of the cache.
type Entry struct {
	Name    string
	Size    int64
	ModTime time.Time
}

// List returns the cache's media files, sorted by name: regular files
// (or links to one) with a valid name; temporary and hidden files,
// directories and anything else are left out. A directory that does not exist yet is an empty cache.
func List(dir string) ([]Entry, error) {
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("media: listing %s: %w", dir, err)
	}
	var out []Entry
	for _, de := range des {
		if ValidName(de.Name()) != nil {
			continue
		}
		var info fs.FileInfo
		var err error
		switch {
		case de.Type().IsRegular():
			info, err = de.Info()
		case de.Type()&fs.ModeSymlink != 0:
			// A link placed by the pole's administrator (media on a USB
			// stick) plays, as Open follows it; a dangling one does not.
			info, err = os.Stat(filepath.Join(dir, de.Name()))
			if err == nil && !info.Mode().IsRegular() {
				continue
			}
		default:
			continue
		}
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed while we listed, or a dangling link
		}
		if err != nil {
			return nil, fmt.Errorf("media: listing %s: %w", dir, err)
		}
		out = append(out, Entry{Name: de.Name(), Size: info.Size(), ModTime: info.ModTime()})
	}
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Open opens the media file name in dir for playing. The Source it returns
// is a *File. Errors name the file and wrap ErrName, fs.ErrNotExist,
// ErrFormat (not MP3 or WAV, or no audio in it), wav.ErrMalformed or
// wav.ErrUnsupported.
func Open(dir, name string) (audio.Source, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, name)
	// Checked before opening: opening a FIFO would block.
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("media %s: no such file in %s: %w", name, dir, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("media %s: %w", name, err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("media %s: %w: not a regular file (%v)", name, ErrFormat, info.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("media %s: %w", name, err)
	}
	m, err := open(f, name)
	if err != nil {
		f.Close()
		return nil, err
	}
	return m, nil
}

// File is an open media file. It implements audio.Source and is used by
// one goroutine at a time.
type File struct {
	name   string
	kind   Kind
	f      *os.File
	format audio.Format
	pos    int64 // frames returned by Read since the start of the file

	wav *wav.Reader

	mp3     *mpg123.Reader
	cur     audio.Format // format of the MP3 decoder's next samples
	wrong   float64      // seconds of samples in a wrong format, in a row
	dropped int64
	scratch []int16

	closed bool
}

func (m *File) errClosed() error { return fmt.Errorf("media %s: used after Close", m.name) }

var _ audio.Source = (*File)(nil)

func open(f *os.File, name string) (*File, error) {
	head := make([]byte, 12)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("media %s: %w", name, err)
	}
	head = head[:n]
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("media %s: %w", name, err)
	}
	m := &File{name: name, f: f}
	switch {
	case len(head) == 12 && string(head[:4]) == "RIFF" && string(head[8:12]) == "WAVE":
		m.kind = WAV
		if m.wav, err = wav.NewReader(f); err != nil {
			return nil, fmt.Errorf("media %s: %w", name, err)
		}
		m.format = m.wav.Format()
	case len(head) >= 3 && string(head[:3]) == "ID3", len(head) >= 2 && head[0] == 0xFF && head[1]&0xE0 == 0xE0:
		m.kind = MP3
		if err := m.openMP3(); err != nil {
			return nil, err
		}
		m.format = m.cur
	case len(head) == 0:
		return nil, fmt.Errorf("media %s: %w: the file is empty", name, ErrFormat)
	default:
		return nil, fmt.Errorf("media %s: %w: it starts with % x, neither a RIFF/WAVE header nor an ID3 tag or MPEG frame", name, ErrFormat, head[:min(len(head), 8)])
	}
	if !m.format.Valid() {
		return nil, fmt.Errorf("media %s: %w: format %v", name, ErrFormat, m.format)
	}
	return m, nil
}

// openMP3 starts decoding the MP3 file from its beginning.
func (m *File) openMP3() error {
	if m.mp3 != nil {
		m.mp3.Close()
		m.mp3 = nil
	}
	if _, err := m.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("media %s: %w", m.name, err)
	}
	r, err := mpg123.NewReader(m.f)
	if err != nil {
		if errors.Is(err, mpg123.ErrNoAudio) {
			return fmt.Errorf("media %s: %w: %w", m.name, ErrFormat, err)
		}
		return fmt.Errorf("media %s: %w", m.name, err)
	}
	m.mp3 = r
	rate, ch := r.Format()
	m.cur = audio.Format{Rate: rate, Channels: ch}
	m.wrong = 0
	if m.scratch == nil {
		m.scratch = make([]int16, 4096)
	}
	return nil
}

// Name returns the media name the File was opened with.
func (m *File) Name() string { return m.name }

// Kind reports whether the file is MP3 or WAV.
func (m *File) Kind() Kind { return m.kind }

// Format reports the file's sample rate and channel count.
func (m *File) Format() audio.Format { return m.format }

// Position reports how many frames (samples per channel) precede the next
// Read: the point to Seek to when the file is reopened later.
func (m *File) Position() int64 { return m.pos }

// Dropped reports how many samples of an MP3 file were dropped for being
// in another format than the file's (see Read).
func (m *File) Dropped() int64 { return m.dropped }

// Read fills p with whole frames and returns the number of samples. It
// returns io.EOF at the end of the file. A file cut short plays up to its
// last whole frame.
//
// An MP3 file whose decoder meets a corrupt frame that looks like a header
// of another rate or channel count gives a burst of samples in that format;
// they are dropped (counted by Dropped) rather than played as noise, and
// if more than two seconds of them come in a row, Read fails with
// ErrFormatChanged.
func (m *File) Read(p []int16) (int, error) {
	if m.closed {
		return 0, m.errClosed()
	}
	if m.kind == WAV {
		n, err := m.wav.Read(p)
		m.pos += int64(n / m.format.Channels)
		if err != nil && err != io.EOF {
			err = fmt.Errorf("media %s: %w", m.name, err)
		}
		return n, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if len(p) < m.format.Channels {
		return 0, fmt.Errorf("media %s: Read needs room for one frame (%d samples), got %d", m.name, m.format.Channels, len(p))
	}
	p = p[:len(p)-len(p)%m.format.Channels]
	for {
		out := p
		if m.cur != m.format {
			out = m.scratch
		}
		n, err := m.mp3.Read(out)
		if n > 0 && m.cur == m.format {
			m.wrong = 0
			m.pos += int64(n / m.format.Channels)
			if errors.Is(err, mpg123.ErrNewFormat) {
				m.newFormat()
				err = nil
			}
			if err != nil && err != io.EOF {
				err = fmt.Errorf("media %s: %w", m.name, err)
			}
			return n, err
		}
		if n > 0 {
			m.dropped += int64(n)
			m.wrong += float64(n) / float64(m.cur.Rate*m.cur.Channels)
			if m.wrong > 2 {
				return 0, fmt.Errorf("media %s: %w from %v to %v", m.name, ErrFormatChanged, m.format, m.cur)
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, mpg123.ErrNewFormat):
			m.newFormat()
		case err == io.EOF:
			return 0, io.EOF
		default:
			return 0, fmt.Errorf("media %s: %w", m.name, err)
		}
	}
}

func (m *File) newFormat() {
	rate, ch := m.mp3.Format()
	m.cur = audio.Format{Rate: rate, Channels: ch}
}

// SeekFrame moves to frame n (samples per channel from the start of the file),
// so that an interrupted file resumes where it stopped. A WAV file seeks
// directly; an MP3 file decodes and discards from where it is, or from the
// start if n is behind. Seeking past the end is an error wrapping io.EOF.
func (m *File) SeekFrame(n int64) error {
	if m.closed {
		return m.errClosed()
	}
	if n < 0 {
		return fmt.Errorf("media %s: cannot seek to frame %d", m.name, n)
	}
	if m.kind == WAV {
		if total := m.wav.Frames(); total >= 0 && n > total {
			return fmt.Errorf("media %s: cannot seek to frame %d, the file has %d: %w", m.name, n, total, io.EOF)
		}
		if err := m.wav.SeekFrame(n); err != nil {
			return fmt.Errorf("media %s: %w", m.name, err)
		}
		m.pos = n
		return nil
	}
	if n < m.pos {
		if err := m.openMP3(); err != nil {
			return err
		}
		m.pos = 0
	}
	buf := make([]int16, 8192-8192%m.format.Channels)
	for m.pos < n {
		want := min(int64(len(buf)), (n-m.pos)*int64(m.format.Channels))
		_, err := m.Read(buf[:want])
		if err == io.EOF {
			return fmt.Errorf("media %s: cannot seek to frame %d, the file ends at %d: %w", m.name, n, m.pos, io.EOF)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Close closes the file and frees the decoder. It is safe to call more
// than once.
func (m *File) Close() error {
	m.closed = true
	if m.mp3 != nil {
		m.mp3.Close()
		m.mp3 = nil
	}
	if m.wav != nil {
		m.wav.Close() // closes m.f
		m.wav = nil
		m.f = nil
	}
	if m.f != nil {
		err := m.f.Close()
		m.f = nil
		if err != nil {
			return fmt.Errorf("media %s: %w", m.name, err)
		}
	}
	return nil
}
