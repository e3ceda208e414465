package media

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/audio/mpg123"
	"github.com/loaxa/loaxa/audio/wav"
	"github.com/loaxa/loaxa/internal/audiotest"
)

// toneWAV writes seconds of a 16-bit tone in format f to dir/name (440 Hz
// on the left or only channel, 880 Hz on the right) and returns its
// samples.
func toneWAV(t *testing.T, dir, name string, f audio.Format, seconds float64) []int16 {
	t.Helper()
	pcm := audiotest.Tones(f, 0.25, int(seconds*float64(f.Rate)), []float64{440, 880}[:f.Channels]...)
	audiotest.WriteWAV(t, filepath.Join(dir, name), f, pcm)
	return pcm
}

// toneMP3 encodes a tone to dir/name with ffmpeg and returns the reference
// decoding of the same bytes.
func toneMP3(t *testing.T, dir, name string, extra ...string) []int16 {
	t.Helper()
	path := filepath.Join(dir, name)
	args := append(audiotest.SineInput(2, 0, 440), "-ac", "2", "-b:a", "128k")
	audiotest.EncodeFile(t, path, append(append(args, extra...), "-f", "mp3")...)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := mpg123.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var pcm []int16
	buf := make([]int16, 4096)
	for {
		n, err := r.Read(buf)
		pcm = append(pcm, buf[:n]...)
		if err == io.EOF {
			return pcm
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func readAll(t *testing.T, s audio.Source) []int16 {
	t.Helper()
	var pcm []int16
	buf := make([]int16, 1000) // reads end inside MP3 frames
	for {
		n, err := s.Read(buf)
		pcm = append(pcm, buf[:n]...)
		if err == io.EOF {
			return pcm
		}
		if err != nil {
			t.Fatalf("read after %d samples: %v", len(pcm), err)
		}
	}
}

func samePCM(t *testing.T, what string, got, want []int16) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d samples, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: sample %d is %d, want %d", what, i, got[i], want[i])
		}
	}
}

func TestOpenBothFormats(t *testing.T) {
	dir := t.TempDir()
	stereo := audio.Format{Rate: 48000, Channels: 2}
	wavPCM := toneWAV(t, dir, "chime.wav", stereo, 1)
	mp3PCM := toneMP3(t, dir, "bulletin-2025_09.mp3")
	// The container is told by content, not by the name.
	if err := os.Rename(filepath.Join(dir, "chime.wav"), filepath.Join(dir, "chime.mp3")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "bulletin-2025_09.mp3"), filepath.Join(dir, "bulletin-2025_09")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		kind   Kind
		format audio.Format
		want   []int16
	}{
		{"chime.mp3", WAV, stereo, wavPCM},
		{"bulletin-2025_09", MP3, audio.Format{Rate: 44100, Channels: 2}, mp3PCM},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			src, err := Open(dir, tc.name)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			f := src.(*File)
			if f.Kind() != tc.kind || f.Format() != tc.format || f.Name() != tc.name {
				t.Errorf("opened as %s %v %q, want %s %v", f.Kind(), f.Format(), f.Name(), tc.kind, tc.format)
			}
			samePCM(t, "decoded file", readAll(t, src), tc.want)
			if pos := f.Position(); pos != int64(len(tc.want)/tc.format.Channels) {
				t.Errorf("position %d at the end, want %d", pos, len(tc.want)/tc.format.Channels)
			}
			if err := src.Close(); err != nil {
				t.Fatal(err)
			}
			if err := src.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			if _, err := src.Read(make([]int16, 10)); err == nil {
				t.Error("Read after Close succeeded")
			}
		})
	}
}

func TestSeekFrameResumesExactly(t *testing.T) {
	dir := t.TempDir()
	wavPCM := toneWAV(t, dir, "a.wav", audio.Format{Rate: 16000, Channels: 1}, 2)
	mp3PCM := toneMP3(t, dir, "a.mp3")
	for _, tc := range []struct {
		name string
		want []int16
		ch   int
	}{{"a.wav", wavPCM, 1}, {"a.mp3", mp3PCM, 2}} {
		t.Run(tc.name, func(t *testing.T) {
			src, err := Open(dir, tc.name)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			f := src.(*File)
			frames := int64(len(tc.want) / tc.ch)
			// Forward from the start, then back (an MP3 restarts), then
			// forward from the middle, as a resumed item would.
			for _, at := range []int64{frames / 2, 1000, frames/2 + 12345, frames} {
				if err := f.SeekFrame(at); err != nil {
					t.Fatalf("SeekFrame(%d): %v", at, err)
				}
				got := readAll(t, src)
				samePCM(t, "after seeking", got, tc.want[at*int64(tc.ch):])
				if f.Position() != frames {
					t.Errorf("position %d, want %d", f.Position(), frames)
				}
			}
			if err := f.SeekFrame(frames + 1); !errors.Is(err, io.EOF) {
				t.Errorf("SeekFrame past the end: %v, want io.EOF", err)
			}
			if err := f.SeekFrame(-1); err == nil {
				t.Error("SeekFrame(-1) succeeded")
			}
		})
	}
}

func TestBadNames(t *testing.T) {
	dir := t.TempDir()
	// A file outside the cache that a bad name might reach.
	outside := filepath.Join(filepath.Dir(dir), "secret.wav")
	toneWAV(t, filepath.Dir(dir), "secret.wav", audio.Format{Rate: 8000, Channels: 1}, 0.1)
	t.Cleanup(func() { os.Remove(outside) })
	for _, tc := range []struct{ name, want string }{
		{"", "empty"},
		{"../secret.wav", "invalid media name"},
		{"..", "starts with a dot"},
		{"a..b.mp3", `contains ".."`},
		{".hidden.mp3", "starts with a dot"},
		{"sub/a.mp3", "character '/'"},
		{`sub\a.mp3`, "character"},
		{"/etc/passwd", "character '/'"},
		{"tin tức.mp3", "character ' '"},
		{"a\x00.mp3", "character"},
		{strings.Repeat("a", 129), "129 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(dir, tc.name)
			if !errors.Is(err, ErrName) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open(%q): %v, want ErrName saying %q", tc.name, err, tc.want)
			}
		})
	}
	for _, ok := range []string{"a", "A.mp3", strings.Repeat("z", 128), "bao-so_3.2025.wav", "x."} {
		if err := ValidName(ok); err != nil {
			t.Errorf("ValidName(%q): %v", ok, err)
		}
	}
}

func TestMissingFileNamesIt(t *testing.T) {
	dir := t.TempDir()
	_, err := Open(dir, "canh-bao-lu.mp3")
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "canh-bao-lu.mp3") {
		t.Errorf("Open of a missing file: %v, want fs.ErrNotExist naming the file", err)
	}
}

func TestCorruptFiles(t *testing.T) {
	dir := t.TempDir()
	toneWAV(t, dir, "good.wav", audio.Format{Rate: 8000, Channels: 1}, 0.1)
	good, err := os.ReadFile(filepath.Join(dir, "good.wav"))
	if err != nil {
		t.Fatal(err)
	}
	badFmt := slices.Clone(good)
	copy(badFmt[12:16], "junk") // the fmt chunk is gone
	mp3ish := append([]byte{0xFF, 0xFB}, bytes.Repeat([]byte("no frames here "), 1000)...)
	for _, tc := range []struct {
		name   string
		data   []byte
		target error
		want   string
	}{
		{"empty", nil, ErrFormat, "empty"},
		{"text", []byte("<html>Not Found</html>"), ErrFormat, "3c 68 74 6d"},
		{"wav-without-fmt", badFmt, wav.ErrMalformed, "wav-without-fmt"},
		{"mp3-without-frames", mp3ish, ErrFormat, "no MPEG audio"},
		{"id3-only", []byte("ID3\x04\x00\x00\x00\x00\x00\x10" + strings.Repeat("\x00", 16)), ErrFormat, "id3-only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(dir, tc.name), tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			src, err := Open(dir, tc.name)
			if err == nil {
				src.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, tc.target) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.name) {
				t.Errorf("Open: %v, want %v naming the file and saying %q", err, tc.target, tc.want)
			}
		})
	}
	t.Run("not a file", func(t *testing.T) {
		if err := os.Mkdir(filepath.Join(dir, "folder.mp3"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mkfifo(filepath.Join(dir, "fifo.mp3"), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"folder.mp3", "fifo.mp3"} {
			if _, err := Open(dir, name); !errors.Is(err, ErrFormat) {
				t.Errorf("Open of %s: %v, want ErrFormat", name, err)
			}
		}
	})
	t.Run("truncated mp3 plays what it has", func(t *testing.T) {
		want := toneMP3(t, dir, "full.mp3")
		data, err := os.ReadFile(filepath.Join(dir, "full.mp3"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "half.mp3"), data[:len(data)/2], 0o644); err != nil {
			t.Fatal(err)
		}
		src, err := Open(dir, "half.mp3")
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		got := readAll(t, src)
		if len(got) < len(want)/3 || len(got) > len(want)*2/3 {
			t.Fatalf("%d samples from half a file of %d", len(got), len(want))
		}
		samePCM(t, "truncated file", got, want[:len(got)])
	})
}

func TestList(t *testing.T) {
	dir := t.TempDir()
	toneWAV(t, dir, "b.wav", audio.Format{Rate: 8000, Channels: 1}, 0.5)
	if err := os.WriteFile(filepath.Join(dir, "a.mp3"), []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	when := time.Date(2025, 9, 1, 5, 30, 0, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(dir, "a.mp3"), when, when); err != nil {
		t.Fatal(err)
	}
	// Not media: a download in progress, a bad name, a directory, a link to
	// a directory, a dangling link.
	for _, name := range []string{".a.mp3.part", "tin tức.mp3"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for target, link := range map[string]string{"sub": "dir.mp3", "gone.mp3": "dangling.mp3", "b.wav": "c.wav"} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range got {
		names = append(names, e.Name)
	}
	if !slices.Equal(names, []string{"a.mp3", "b.wav", "c.wav"}) {
		t.Fatalf("List = %+v, want a.mp3, b.wav and the link c.wav", got)
	}
	if got[0].Size != 10 || !got[0].ModTime.Equal(when) || got[1].Size != 44+4000*2 || got[2].Size != got[1].Size {
		t.Errorf("List = %+v", got)
	}
	if none, err := List(filepath.Join(dir, "missing")); err != nil || len(none) != 0 {
		t.Errorf("List of a missing directory = %v, %v; want an empty cache", none, err)
	}
}
