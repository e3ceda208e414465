package mpg123

import (
	"bytes"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/loaxa/loaxa/internal/audiotest"
)

func TestReaderDecodesTones(t *testing.T) {
	tests := []struct {
		name     string
		file     string
		args     []string
		rate     int
		freqs    []float64 // per channel
		slack    int       // samples per channel the length may be off by
		exactLen bool
	}{
		{
			// ffmpeg writes an ID3v2 tag and a LAME/Xing header with the
			// encoder delay and padding, so gapless decoding is exact.
			name: "stereo 44.1 kHz 128 kbit/s with a 10 KB ID3v2 tag",
			file: "stereo.mp3",
			args: append(audiotest.SineInput(3, 44100, 500, 1000),
				"-b:a", "128k", "-metadata", "title=Bản tin sáng", "-metadata", "comment="+strings.Repeat("loa ", 2500)),
			rate: 44100, freqs: []float64{500, 1000}, exactLen: true,
		},
		{
			name: "mono 22.05 kHz 64 kbit/s",
			file: "mono.mp3",
			args: append(audiotest.SineInput(3, 22050, 1000), "-ac", "1", "-b:a", "64k"),
			rate: 22050, freqs: []float64{1000}, exactLen: true,
		},
		{
			name: "stereo 48 kHz 192 kbit/s",
			file: "48k.mp3",
			args: append(audiotest.SineInput(3, 48000, 700, 1300), "-b:a", "192k"),
			rate: 48000, freqs: []float64{700, 1300}, exactLen: true,
		},
		{
			name: "mono 8 kHz 16 kbit/s (MPEG 2.5)",
			file: "8k.mp3",
			args: append(audiotest.SineInput(3, 8000, 440), "-ac", "1", "-b:a", "16k"),
			rate: 8000, freqs: []float64{440}, exactLen: true,
		},
		{
			// Without the LAME header the decoder cannot know the encoder's
			// delay and padding; the length is off by up to about a frame
			// and a half.
			name: "stereo 44.1 kHz without ID3v2 or Xing header",
			file: "bare.mp3",
			args: append(audiotest.SineInput(3, 44100, 500, 1000), "-b:a", "128k", "-write_xing", "0", "-id3v2_version", "0"),
			rate: 44100, freqs: []float64{500, 1000}, slack: 2 * frameSamples,
		},
		{
			name: "MPEG-1 Layer II stereo 48 kHz",
			file: "tone.mp2",
			args: append(audiotest.SineInput(3, 48000, 500, 1000), "-c:a", "mp2", "-b:a", "192k"),
			rate: 48000, freqs: []float64{500, 1000}, slack: 2 * frameSamples,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := audiotest.Encode(t, tt.file, tt.args...)
			pcm, rate, channels := decodeAll(t, bytes.NewReader(data), false)
			if rate != tt.rate || channels != len(tt.freqs) {
				t.Fatalf("format %d Hz %d channels, want %d Hz %d channels", rate, channels, tt.rate, len(tt.freqs))
			}
			if len(pcm)%channels != 0 {
				t.Fatalf("%d samples is not whole frames of %d channels", len(pcm), channels)
			}
			frames, want := len(pcm)/channels, 3*tt.rate
			if tt.exactLen {
				if frames != want {
					t.Errorf("decoded %d frames, want exactly %d (3 s)", frames, want)
				}
			} else if d := frames - want; d < 0 || d > tt.slack {
				t.Errorf("decoded %d frames, want %d to %d", frames, want, want+tt.slack)
			}
			// ffmpeg's decoder is the reference: same length (it reads the
			// same LAME header) and the same samples but for rounding.
			ref := audiotest.Decode(t, tt.file, data)
			if len(ref) != len(pcm) {
				t.Errorf("decoded %d samples, ffmpeg %d", len(pcm), len(ref))
			} else if d := rmsDiff(pcm, ref); d > 1 {
				t.Errorf("samples differ from ffmpeg's by %.2f LSB RMS, want under 1", d)
			}
			for c, wantFreq := range tt.freqs {
				x := middle(channel(pcm, channels, c))
				if f := toneFrequency(x, rate); math.Abs(f-wantFreq) > wantFreq*0.005 {
					t.Errorf("channel %d: tone at %.1f Hz, want %.0f Hz", c, f, wantFreq)
				}
				// ffmpeg's sine source has amplitude 1/8: RMS −21.1 dBFS.
				if l := levelDBFS(x); math.Abs(l-(-21.07)) > 0.5 {
					t.Errorf("channel %d: level %.2f dBFS, want −21.07 dBFS", c, l)
				}
			}
		})
	}
}

func TestChunkingDoesNotChangeOutput(t *testing.T) {
	data := audiotest.Encode(t, "x.mp3", append(audiotest.SineInput(2, 44100, 500, 1000), "-b:a", "128k")...)
	whole, formats := feedAll(t, data, func() int { return len(data) }, func() int { return 1 << 16 })
	if len(formats) != 1 || formats[0] != [2]int{44100, 2} {
		t.Fatalf("formats %v, want one of 44100 Hz stereo", formats)
	}
	if len(whole) != 2*2*44100 {
		t.Fatalf("decoded %d samples, want %d", len(whole), 2*2*44100)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name           string
		chunk, outSize func() int
	}{
		{"1-byte chunks", func() int { return 1 }, func() int { return 4096 }},
		{"random chunks, random output buffers",
			func() int { return 1 + rng.IntN(3000) },
			func() int { return 2 + rng.IntN(5000) }},
		{"whole input, 2-sample output buffers", func() int { return len(data) }, func() int { return 2 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := feedAll(t, data, tt.chunk, tt.outSize)
			if !slices.Equal(got, whole) {
				t.Errorf("decoded %d samples that differ from the %d of one whole feed", len(got), len(whole))
			}
		})
	}
	t.Run("Reader on a one-byte source", func(t *testing.T) {
		got, _, _ := decodeAll(t, iotest.OneByteReader(bytes.NewReader(data)), false)
		if !slices.Equal(got, whole) {
			t.Errorf("decoded %d samples that differ from the %d of one whole feed", len(got), len(whole))
		}
	})
}

func TestReaderOnTruncatedInput(t *testing.T) {
	data := audiotest.Encode(t, "x.mp3", append(audiotest.SineInput(4, 0, 1000), "-ac", "2", "-ar", "44100", "-b:a", "128k")...)
	// Cut in the middle of a frame (a 128 kbit/s frame is 417 or 418 bytes).
	cut := data[:len(data)/2+200]
	pcm, _, channels := decodeAll(t, bytes.NewReader(cut), false)
	frames := len(pcm) / channels
	if want := 2 * 44100; frames < want-2*frameSamples || frames > want+2*frameSamples {
		t.Errorf("half a 4 s file decoded to %d frames, want about %d", frames, want)
	}
	if f := toneFrequency(middle(channel(pcm, channels, 0)), 44100); math.Abs(f-1000) > 5 {
		t.Errorf("tone at %.1f Hz, want 1000 Hz", f)
	}
}

func TestReaderRejectsInputWithoutAudio(t *testing.T) {
	garbage := randomBytes(64<<10, 1)
	mp3 := audiotest.Encode(t, "x.mp3", append(audiotest.SineInput(1, 0, 440), "-b:a", "64k")...)
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"HTML error page", []byte("<!DOCTYPE html><html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>\n")},
		{"64 KiB of random bytes", garbage},
		{"only the ID3v2 tag of an MP3", mp3[:20]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewReader(bytes.NewReader(tt.in))
			if err == nil {
				r.Close()
				t.Fatal("NewReader succeeded, want ErrNoAudio")
			}
			if !errors.Is(err, ErrNoAudio) {
				t.Errorf("NewReader: %v, want ErrNoAudio", err)
			}
		})
	}
}

func TestReaderResyncsAfterGarbage(t *testing.T) {
	clip := audiotest.Encode(t, "x.mp3", append(audiotest.SineInput(3, 44100, 500, 1000), "-b:a", "128k")...)
	garbage := randomBytes(20<<10, 2)
	in := slices.Concat(clip, garbage, clip)

	// Random bytes sometimes look like frame headers of another layer or
	// rate; libmpg123 decodes those as short bursts and reports each format
	// change, so the reader must accept them.
	pcm, rate, channels := decodeAll(t, bytes.NewReader(in), true)
	if rate != 44100 || channels != 2 {
		t.Fatalf("format after the garbage: %d Hz %d channels, want 44100 Hz stereo", rate, channels)
	}
	one := 3 * 44100 * 2
	if len(pcm) < 2*one {
		t.Fatalf("decoded %d samples, want at least the %d of both clips", len(pcm), 2*one)
	}
	// The second clip is intact at the end of the output.
	tail := channel(pcm[len(pcm)-one:], 2, 1)
	if f := toneFrequency(middle(tail), 44100); math.Abs(f-1000) > 5 {
		t.Errorf("tone after the garbage at %.1f Hz, want 1000 Hz", f)
	}
	if l := levelDBFS(middle(tail)); math.Abs(l-(-21.07)) > 0.5 {
		t.Errorf("level after the garbage %.2f dBFS, want −21.07 dBFS", l)
	}
}

func TestDecoderBeforeInput(t *testing.T) {
	d, err := NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Feed(nil); err != nil {
		t.Errorf("Feed(nil): %v", err)
	}
	if _, _, ok := d.Format(); ok {
		t.Error("Format is known before any input")
	}
	if n, err := d.Decode(make([]int16, 100)); n != 0 || !errors.Is(err, ErrNeedMore) {
		t.Errorf("Decode without input = %d, %v; want 0, ErrNeedMore", n, err)
	}
}

func TestDecodeProbeAndSmallBuffers(t *testing.T) {
	d, err := NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Feed(seed(t)); err != nil {
		t.Fatal(err)
	}
	// An empty buffer parses up to the format without taking samples.
	if n, err := d.Decode(nil); n != 0 || !errors.Is(err, ErrNewFormat) {
		t.Fatalf("Decode(nil) = %d, %v; want 0, ErrNewFormat", n, err)
	}
	if rate, ch, ok := d.Format(); rate != 22050 || ch != 1 || !ok {
		t.Fatalf("Format() = %d, %d, %v; want 22050, 1, true", rate, ch, ok)
	}
	total := 0
	for {
		n, err := d.Decode(make([]int16, 1))
		total += n
		if errors.Is(err, ErrNeedMore) {
			break
		}
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
	}
	if total != 22050/2 {
		t.Errorf("decoded %d samples one at a time, want %d", total, 22050/2)
	}
}

func TestDecodeRejectsBufferSmallerThanAFrame(t *testing.T) {
	data := audiotest.Encode(t, "x.mp3", append(audiotest.SineInput(1, 0, 440), "-ac", "2", "-b:a", "128k")...)
	d, err := NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Feed(data); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Decode(nil); !errors.Is(err, ErrNewFormat) {
		t.Fatalf("Decode(nil): %v, want ErrNewFormat", err)
	}
	if n, err := d.Decode(make([]int16, 1)); n != 0 || err == nil || !strings.Contains(err.Error(), "one per channel") {
		t.Errorf("Decode into 1 sample of stereo = %d, %v; want an error about the buffer size", n, err)
	}
	if n, err := d.Decode(make([]int16, 3)); n != 2 || err != nil {
		t.Errorf("Decode into 3 samples of stereo = %d, %v; want one whole frame: 2, nil", n, err)
	}
}

func TestCloseTwiceAndUseAfterClose(t *testing.T) {
	d, err := NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := d.Feed([]byte{1}); !errors.Is(err, ErrClosed) {
		t.Errorf("Feed after Close: %v, want ErrClosed", err)
	}
	if _, err := d.Decode(make([]int16, 4)); !errors.Is(err, ErrClosed) {
		t.Errorf("Decode after Close: %v, want ErrClosed", err)
	}

	r, err := NewReader(bytes.NewReader(seed(t)))
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if err := r.Close(); err != nil {
		t.Errorf("second Reader.Close: %v", err)
	}
	if _, err := r.Read(make([]int16, 4)); !errors.Is(err, ErrClosed) {
		t.Errorf("Read after Close: %v, want ErrClosed", err)
	}
}

func TestReaderReportsSourceError(t *testing.T) {
	data := seed(t)
	boom := errors.New("connection reset")
	src := io.MultiReader(bytes.NewReader(data[:len(data)/2]), iotest.ErrReader(boom))
	r, err := NewReader(src)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	buf := make([]int16, 1000)
	for {
		_, err = r.Read(buf)
		if err != nil {
			break
		}
	}
	if !errors.Is(err, boom) {
		t.Errorf("Read ended with %v, want the source's error", err)
	}
}

func TestReaderGivesUpOnSourceThatNeverReturns(t *testing.T) {
	_, err := NewReader(emptyReader{})
	if !errors.Is(err, io.ErrNoProgress) {
		t.Errorf("NewReader on a source returning 0, nil forever: %v, want io.ErrNoProgress", err)
	}
}

type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, nil }
