package wav

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/audio/dsp"
	"github.com/loaxa/loaxa/audio/tone"
	"github.com/loaxa/loaxa/internal/audiotest"
)

func readAll(t testing.TB, s audio.Source, chunk int) ([]int16, error) {
	t.Helper()
	var out []int16
	buf := make([]int16, chunk*max(s.Format().Channels, 1))
	for {
		n, err := s.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return out, err
		}
	}
}

// wavBytes builds a WAV file by hand: a fmt chunk body, then extra chunks
// and the data chunk.
type chunk struct {
	id   string
	body []byte
	size uint32 // written instead of len(body) when non-zero
}

func wavBytes(chunks ...chunk) []byte {
	var b []byte
	b = append(b, "RIFF\x00\x00\x00\x00WAVE"...)
	for _, c := range chunks {
		b = append(b, c.id...)
		size := uint32(len(c.body))
		if c.size != 0 {
			size = c.size
		}
		b = binary.LittleEndian.AppendUint32(b, size)
		b = append(b, c.body...)
		if len(c.body)%2 == 1 {
			b = append(b, 0)
		}
	}
	binary.LittleEndian.PutUint32(b[4:], uint32(len(b)-8))
	return b
}

func fmtBody(tag uint16, channels, rate, width, bits int) []byte {
	le := binary.LittleEndian
	b := le.AppendUint16(nil, tag)
	b = le.AppendUint16(b, uint16(channels))
	b = le.AppendUint32(b, uint32(rate))
	b = le.AppendUint32(b, uint32(rate*channels*width))
	b = le.AppendUint16(b, uint16(channels*width))
	return le.AppendUint16(b, uint16(bits))
}

func extensibleBody(sub uint16, channels, rate, width, bits int) []byte {
	le := binary.LittleEndian
	b := fmtBody(tagExtensible, channels, rate, width, bits)
	b = le.AppendUint16(b, 22)
	b = le.AppendUint16(b, uint16(bits))
	b = le.AppendUint32(b, 3)
	b = le.AppendUint16(b, sub)
	return append(b, guidSuffix...)
}

// Files written by sox and ffmpeg (see testdata/README): a half-scale
// 1 kHz tone of 0.1 s in every encoding the reader plays.
func TestReadFixtures(t *testing.T) {
	tests := []struct {
		file   string
		f      audio.Format
		frames int64
		tol    float64 // amplitude tolerance: 8-bit audio is coarse
		amp    float64
	}{
		{"u8_mono.wav", audio.Format{Rate: 16000, Channels: 1}, 1600, 0.01, 0.5},
		{"s16_stereo.wav", audio.Format{Rate: 16000, Channels: 2}, 1600, 0.002, 0.5},
		{"s24_stereo.wav", audio.Format{Rate: 16000, Channels: 2}, 1600, 0.002, 0.5},
		{"s32_mono.wav", audio.Format{Rate: 16000, Channels: 1}, 1600, 0.002, 0.5},
		{"f32_stereo.wav", audio.Format{Rate: 16000, Channels: 2}, 1600, 0.002, 0.5},
		{"f64_mono.wav", audio.Format{Rate: 16000, Channels: 1}, 1600, 0.002, 0.5},
		{"ffmpeg_list_chunk.wav", audio.Format{Rate: 22050, Channels: 2}, 2205, 0.002, 0.5 / math.Sqrt2}, // ffmpeg pans mono to stereo at −3 dB
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			r, err := Open(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if r.Format() != tt.f || r.Frames() != tt.frames {
				t.Errorf("format %v, %d frames; want %v, %d", r.Format(), r.Frames(), tt.f, tt.frames)
			}
			p, err := readAll(t, r, 333)
			if err != nil {
				t.Fatal(err)
			}
			if got := int64(len(p) / tt.f.Channels); got != tt.frames {
				t.Errorf("read %d frames, want %d", got, tt.frames)
			}
			if a := dsp.Goertzel(p, tt.f, 1000); math.Abs(a-tt.amp) > tt.tol {
				t.Errorf("1 kHz at %.4f of full scale, want %.4f", a, tt.amp)
			}
			if a := dsp.Goertzel(p, tt.f, 1500); a > 0.01 {
				t.Errorf("1.5 kHz at %.4f: samples decoded wrong", a)
			}
		})
	}
}

func TestReadRejects(t *testing.T) {
	s16 := fmtBody(tagPCM, 1, 8000, 2, 16)
	data := chunk{"data", make([]byte, 8), 0}
	tests := []struct {
		name  string
		file  []byte
		want  error
		words string // part of the message
	}{
		{"empty", nil, ErrMalformed, "ends inside the RIFF header"},
		{"not RIFF", []byte("ID3\x04\x00\x00\x00\x00\x00\x00\x00\x00 an MP3"), ErrMalformed, "RIFF"},
		{"AVI", []byte("RIFF\x10\x00\x00\x00AVI LIST"), ErrMalformed, "WAVE"},
		{"no data chunk", wavBytes(chunk{"fmt ", s16, 0}), ErrMalformed, "no data chunk"},
		{"data before fmt", wavBytes(data, chunk{"fmt ", s16, 0}), ErrMalformed, "before the fmt"},
		{"short fmt", wavBytes(chunk{"fmt ", s16[:14], 0}, data), ErrMalformed, "fmt chunk of 14 bytes"},
		{"huge fmt", wavBytes(chunk{"fmt ", s16, 1 << 30}, data), ErrMalformed, "fmt chunk"},
		{"truncated unknown chunk", wavBytes(chunk{"fmt ", s16, 0}, chunk{"LIST", []byte("abcd"), 100}), ErrMalformed, "\"LIST\" chunk"},
		{"two fmt chunks", wavBytes(chunk{"fmt ", s16, 0}, chunk{"fmt ", s16, 0}, data), ErrMalformed, "two fmt"},
		{"zero block align", wavBytes(chunk{"fmt ", fmtBody(tagPCM, 1, 8000, 0, 16), 0}, data), ErrMalformed, "block align"},
		{"bits exceed container", wavBytes(chunk{"fmt ", fmtBody(tagPCM, 1, 8000, 2, 24), 0}, data), ErrMalformed, "24 bits"},
		{"ADPCM (ffmpeg)", must(os.ReadFile("testdata/adpcm.wav")), ErrUnsupported, "format tag 0x0011"},
		{"four channels (sox)", must(os.ReadFile("testdata/quad.wav")), ErrUnsupported, "4 channels"},
		{"48-bit PCM", wavBytes(chunk{"fmt ", fmtBody(tagPCM, 1, 8000, 6, 48), 0}, data), ErrUnsupported, "6-byte samples"},
		{"16-bit float", wavBytes(chunk{"fmt ", fmtBody(tagFloat, 1, 8000, 2, 16), 0}, data), ErrUnsupported, "2-byte samples"},
		{"rate 4000 Hz", wavBytes(chunk{"fmt ", fmtBody(tagPCM, 1, 4000, 2, 16), 0}, data), ErrUnsupported, "4000 Hz"},
		{"extensible A-law", wavBytes(chunk{"fmt ", extensibleBody(6, 1, 8000, 1, 8), 0}, data), ErrUnsupported, "format tag 0x0006"},
		{"extensible unknown GUID", wavBytes(chunk{"fmt ", append(extensibleBody(1, 1, 8000, 2, 16)[:39], 0x72), 0}, data), ErrUnsupported, "sub-format"},
		{"extensible too short", wavBytes(chunk{"fmt ", extensibleBody(1, 1, 8000, 2, 16)[:18], 0}, data), ErrMalformed, "EXTENSIBLE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewReader(bytes.NewReader(tt.file))
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.words) {
				t.Errorf("error %v, want %v mentioning %q", err, tt.want, tt.words)
			}
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestSampleConversion(t *testing.T) {
	le := binary.LittleEndian
	f32 := func(xs ...float32) []byte {
		var b []byte
		for _, x := range xs {
			b = le.AppendUint32(b, math.Float32bits(x))
		}
		return b
	}
	f64 := func(xs ...float64) []byte {
		var b []byte
		for _, x := range xs {
			b = le.AppendUint64(b, math.Float64bits(x))
		}
		return b
	}
	tests := []struct {
		name  string
		fmt   []byte
		data  []byte
		want  []int16
		extra string
	}{
		{"u8", fmtBody(tagPCM, 1, 8000, 1, 8), []byte{0, 128, 255, 129}, []int16{-32768, 0, 32512, 256}, ""},
		{"s16", fmtBody(tagPCM, 1, 8000, 2, 16), []byte{0xff, 0x7f, 0x00, 0x80, 0xff, 0xff}, []int16{32767, -32768, -1}, ""},
		{"s24 rounds", fmtBody(tagPCM, 1, 8000, 3, 24), []byte{0xff, 0xff, 0x7f, 0x00, 0x00, 0x80, 0x80, 0x01, 0x00, 0x7f, 0x01, 0x00}, []int16{32767, -32768, 2, 1}, ""},
		{"20-bit in 24", fmtBody(tagPCM, 1, 8000, 3, 20), []byte{0x00, 0x00, 0x40}, []int16{16384}, ""},
		{"s32", fmtBody(tagPCM, 1, 8000, 4, 32), []byte{0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0x80, 0, 0x80, 0xff, 0xff}, []int16{32767, -32768, 0}, ""},
		{"f32 clips", fmtBody(tagFloat, 1, 8000, 4, 32), f32(1, -1, 0.5, 2, -3, float32(math.NaN()), float32(math.Inf(-1))), []int16{32767, -32768, 16384, 32767, -32768, 0, -32768}, ""},
		{"f64", fmtBody(tagFloat, 1, 8000, 8, 64), f64(-0.25, 0.99999), []int16{-8192, 32767}, ""},
		{"extensible s16 stereo", extensibleBody(tagPCM, 2, 8000, 2, 16), []byte{1, 0, 2, 0}, []int16{1, 2}, ""},
		{"extensible float", extensibleBody(tagFloat, 1, 8000, 4, 32), f32(0.5), []int16{16384}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := wavBytes(chunk{"fmt ", tt.fmt, 0}, chunk{"fact", []byte{1, 2, 3, 4}, 0}, chunk{"data", tt.data, 0})
			r, err := NewReader(bytes.NewReader(file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := readAll(t, r, 2)
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// A file cut anywhere inside its data plays its whole frames and ends.
func TestTruncatedDataEndsCleanly(t *testing.T) {
	full := must(os.ReadFile("testdata/s24_stereo.wav"))
	r, err := NewReader(bytes.NewReader(full))
	if err != nil {
		t.Fatal(err)
	}
	whole, _ := readAll(t, r, 1000)
	start := len(full) - len(whole)*3
	for _, cut := range []int{0, 1, 5, 6, 7, 6 * 800, 6*800 + 4} {
		r, err := NewReader(bytes.NewReader(full[:start+cut]))
		if err != nil {
			t.Fatalf("cut at data+%d: %v", cut, err)
		}
		got, err := readAll(t, r, 100)
		if err != nil {
			t.Fatalf("cut at data+%d: %v", cut, err)
		}
		if n := cut / 6 * 2; !slices.Equal(got, whole[:n]) {
			t.Errorf("cut at data+%d: %d samples, want the first %d", cut, len(got), n)
		}
		// EOF is sticky.
		if n, err := r.Read(make([]int16, 10)); n != 0 || err != io.EOF {
			t.Errorf("Read after the end = %d, %v", n, err)
		}
	}
}

func TestWriteRead(t *testing.T) {
	f := audio.Format{Rate: 44100, Channels: 2}
	want, err := readAll(t, tone.New(440, f, 0.7).For(1500*time.Millisecond), 4410)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "out.wav")
	file, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWriter(file, f)
	if err != nil {
		t.Fatal(err)
	}
	// Before any flush the sizes say "unknown": a reader sees all
	// samples on disk, as it would after a crash.
	if err := w.Write(want[:1000]); err != nil {
		t.Fatal(err)
	}
	if r, err := Open(path); err != nil {
		t.Fatal(err)
	} else if got, _ := readAll(t, r, 100); r.Frames() != -1 || !slices.Equal(got, want[:1000]) {
		t.Errorf("before flush: %d frames announced, %d samples read; want -1 and 1000", r.Frames(), len(got))
	} else {
		r.Close()
	}
	for i := 1000; i < len(want); i += 2 * 1234 {
		if err := w.Write(want[i:min(i+2*1234, len(want))]); err != nil {
			t.Fatal(err)
		}
		if i == 1000+2*1234*10 {
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			r, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Frames(); got != w.Frames() {
				t.Errorf("after Flush: header says %d frames, %d written", got, w.Frames())
			}
			r.Close()
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := w.Write(want[:2]); err == nil {
		t.Error("Write after Close succeeded")
	}
	file.Close()

	st, _ := os.Stat(path)
	if st.Size() != headerSize+int64(2*len(want)) {
		t.Errorf("file of %d bytes, want %d", st.Size(), headerSize+2*len(want))
	}
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Format() != f || r.Frames() != int64(len(want)/2) || r.Duration() != 1500*time.Millisecond {
		t.Errorf("format %v, %d frames, %v; want %v, %d, 1.5s", r.Format(), r.Frames(), r.Duration(), f, len(want)/2)
	}
	got, err := readAll(t, r, 1000)
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("read back %d samples (%v), not the %d written", len(got), err, len(want))
	}

	// Another program agrees.
	out := audiotest.Sox(t, "--i", "-s", path)
	if n, _ := strconv.Atoi(strings.TrimSpace(string(out))); n != len(want)/2 {
		t.Errorf("sox counts %s samples, want %d", strings.TrimSpace(string(out)), len(want)/2)
	}
}

func TestStreamWriter(t *testing.T) {
	f := audio.Format{Rate: 8000, Channels: 1}
	var buf bytes.Buffer
	w, err := NewStreamWriter(&buf, f)
	if err != nil {
		t.Fatal(err)
	}
	want := []int16{1, -2, 3, 32767, -32768}
	if err := w.Write(want); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(t, r, 3)
	if err != nil || !slices.Equal(got, want) || r.Frames() != -1 {
		t.Errorf("got %v (%v), %d frames announced; want %v, unknown", got, err, r.Frames(), want)
	}
	if err := r.SeekFrame(0); err == nil {
		t.Error("SeekFrame on a stream succeeded")
	}
}

func TestWriterRejects(t *testing.T) {
	if _, err := NewStreamWriter(io.Discard, audio.Format{Rate: 48000, Channels: 3}); err == nil {
		t.Error("3 channels accepted")
	}
	w, err := NewStreamWriter(io.Discard, audio.Format{Rate: 48000, Channels: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write([]int16{1, 2, 3}); err == nil {
		t.Error("half a stereo frame accepted")
	}
}

func TestSeekFrame(t *testing.T) {
	r, err := Open("testdata/s16_stereo.wav")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	all, _ := readAll(t, r, 100)
	for _, frame := range []int64{800, 0, 1599, 1600} {
		if err := r.SeekFrame(frame); err != nil {
			t.Fatal(err)
		}
		got, err := readAll(t, r, 64)
		if err != nil || !slices.Equal(got, all[2*frame:]) {
			t.Errorf("after SeekFrame(%d): %d samples (%v), want %d", frame, len(got), err, len(all)-2*int(frame))
		}
	}
	for _, bad := range []int64{-1, 1601} {
		if err := r.SeekFrame(bad); err == nil {
			t.Errorf("SeekFrame(%d) succeeded", bad)
		}
	}
}
