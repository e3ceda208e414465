package wav

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReader feeds the reader arbitrary bytes: it must refuse them with an
// error or play whole frames of a valid format, never panic, never loop,
// and never allocate by a size field's word.
func FuzzReader(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.wav")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
		f.Add(b[:50])
	}
	s16 := fmtBody(tagPCM, 2, 8000, 2, 16)
	f.Add(wavBytes(chunk{"fmt ", s16, 0}, chunk{"data", []byte{1, 2, 3, 4, 5, 6, 7}, 0xFFFFFFFF}))
	f.Add(wavBytes(chunk{"fmt ", extensibleBody(tagFloat, 1, 8000, 4, 32), 0}, chunk{"LIST", []byte("odd"), 0}, chunk{"data", []byte{0, 0, 0x80, 0x7f}, 0}))
	f.Add([]byte("RF64\xff\xff\xff\xffWAVEds64\x04\x00\x00\x00abcd"))

	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("error %v wraps neither ErrMalformed nor ErrUnsupported", err)
			}
			return
		}
		ch := r.Format().Channels
		if !r.Format().Valid() {
			t.Fatalf("accepted invalid format %v", r.Format())
		}
		buf := make([]int16, 7*ch)
		total := 0
		// Each successful Read consumes at least one byte of data.
		for range len(data) + 2 {
			n, err := r.Read(buf[:(1+total%7)*ch])
			if n%ch != 0 || n > len(buf) {
				t.Fatalf("Read returned %d samples of %d-channel audio", n, ch)
			}
			total += n
			if err == io.EOF {
				if f := r.Frames(); f >= 0 && int64(total/ch) > f {
					t.Fatalf("read %d frames, header announced %d", total/ch, f)
				}
				return
			}
			if err != nil {
				t.Fatalf("error %v from a bytes.Reader", err)
			}
		}
		t.Fatalf("no io.EOF after %d reads of %d bytes", len(data)+2, len(data))
	})
}
