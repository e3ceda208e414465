package audiotest_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/audio/dsp"
	"github.com/loaxa/loaxa/audio/wav"
	"github.com/loaxa/loaxa/internal/audiotest"
)

var (
	mono48   = audio.Format{Rate: 48000, Channels: 1}
	stereo48 = audio.Format{Rate: 48000, Channels: 2}
)

func TestSine(t *testing.T) {
	p := audiotest.Sine(stereo48, 1000, 0.5, 4800)
	if len(p) != 9600 {
		t.Fatalf("%d samples, want 9600", len(p))
	}
	if p[0] != 0 || p[1] != 0 {
		t.Errorf("first frame %v, want phase 0", p[:2])
	}
	// 1 kHz at 48 kHz: the peak is frame 12, a quarter period.
	if p[24] != 16384 || p[25] != 16384 {
		t.Errorf("frame 12 is %v, want 0.5·32767 rounded on both channels", p[24:26])
	}
	if a := dsp.Goertzel(p, stereo48, 1000); math.Abs(a-0.5) > 0.002 {
		t.Errorf("amplitude %.4f, want 0.5", a)
	}
	if !slices.Equal(audiotest.SineAt(stereo48, 1000, 0.5, 1234, 100), p[2*1234:2*1334]) {
		t.Error("SineAt does not continue Sine")
	}
}

func TestTones(t *testing.T) {
	p := audiotest.Tones(stereo48, 0.25, 4800, 500, 2000)
	left, right := channel(p, 2, 0), channel(p, 2, 1)
	if !slices.Equal(left, audiotest.Sine(mono48, 500, 0.25, 4800)) || !slices.Equal(right, audiotest.Sine(mono48, 2000, 0.25, 4800)) {
		t.Error("channels are not the two sines")
	}
}

func TestTrimSilence(t *testing.T) {
	tests := []struct {
		name     string
		p        []int16
		channels int
		want     []int16
	}{
		{"mono", []int16{0, 0, 3, 0, 4, 0}, 1, []int16{3, 0, 4}},
		{"stereo keeps a frame silent on one channel only", []int16{0, 0, 0, 5, 6, 0, 0, 0}, 2, []int16{0, 5, 6, 0}},
		{"all silence", []int16{0, 0, 0, 0}, 2, []int16{}},
		{"nothing", nil, 2, []int16{}},
		{"no silence", []int16{1, 2}, 2, []int16{1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := audiotest.TrimSilence(tt.p, tt.channels); !slices.Equal(got, tt.want) {
				t.Errorf("TrimSilence(%v, %d) = %v, want %v", tt.p, tt.channels, got, tt.want)
			}
		})
	}
}

func TestGoertzelPower(t *testing.T) {
	p := audiotest.Sine(mono48, 1000, 0.5, 9600) // 200 whole periods
	if on, want := audiotest.GoertzelPower(p, 48000, 1000), math.Pow(0.5*32767/2, 2); math.Abs(on-want)/want > 0.001 {
		t.Errorf("power at 1 kHz %.4g, want %.4g", on, want)
	}
	if off := audiotest.GoertzelPower(p, 48000, 700); off > 1 {
		t.Errorf("power at 700 Hz %.3g, want about 0", off)
	}
}

// The WAV writer's files read back through audio/wav and through ffmpeg,
// two readers that owe it nothing.
func TestWAV(t *testing.T) {
	f := audio.Format{Rate: 22050, Channels: 2}
	pcm := audiotest.Tones(f, 0.5, 2205, 1000, 1500)
	data := audiotest.WAV(f, pcm)
	if len(data) != 44+2*len(pcm) {
		t.Fatalf("%d bytes, want a 44-byte header and the samples", len(data))
	}
	r, err := wav.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if r.Format() != f {
		t.Errorf("audio/wav reads %v, want %v", r.Format(), f)
	}
	if got := readAll(t, r); !slices.Equal(got, pcm) {
		t.Error("audio/wav reads other samples")
	}
	path := filepath.Join(t.TempDir(), "x.wav")
	audiotest.WriteWAV(t, path, f, pcm)
	if got := audiotest.Decode(t, "x.wav", data); !slices.Equal(got, pcm) {
		t.Error("ffmpeg reads other samples")
	}
}

// SineInput makes what it says: one sine per channel at 1/8 of full scale,
// for the duration and rate asked. A WAV keeps the level exact; an MP3
// (LAME) lowers it by about 0.45 dB.
func TestEncodeSineInput(t *testing.T) {
	tests := []struct {
		name string
		args []string
		rate int
		hz   []float64
	}{
		{"mono", audiotest.SineInput(0.5, 22050, 1000), 22050, []float64{1000}},
		{"stereo, two tones", audiotest.SineInput(0.5, 44100, 500, 2000), 44100, []float64{500, 2000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pcm := audiotest.Decode(t, "x.wav", audiotest.Encode(t, "x.wav", tt.args...))
			f := audio.Format{Rate: tt.rate, Channels: len(tt.hz)}
			if frames := len(pcm) / f.Channels; frames != tt.rate/2 {
				t.Errorf("%d frames, want %d (0.5 s)", frames, tt.rate/2)
			}
			mono := audio.Format{Rate: tt.rate, Channels: 1}
			for c, hz := range tt.hz {
				x := channel(pcm, f.Channels, c)
				if a := dsp.Goertzel(x, mono, hz); math.Abs(a-0.125) > 0.001 {
					t.Errorf("channel %d: %v Hz at %.4f, want 0.125 (ffmpeg's sine)", c, hz, a)
				}
				for _, other := range tt.hz {
					if a := dsp.Goertzel(x, mono, other); other != hz && a > 0.001 {
						t.Errorf("channel %d: %v Hz at %.4f, want only %v Hz", c, other, a, hz)
					}
				}
			}
			mp3 := audiotest.Decode(t, "x.mp3", audiotest.Encode(t, "x.mp3", append(tt.args, "-b:a", "128k")...))
			if len(mp3) != len(pcm) {
				t.Errorf("through MP3: %d samples, want %d (ffmpeg reads the encoder delay from the LAME header)", len(mp3), len(pcm))
			}
		})
	}
}

func TestPinkInput(t *testing.T) {
	pcm := audiotest.Decode(t, "n.wav", audiotest.Encode(t, "n.wav", audiotest.PinkInput(0.2, 8000, 0.3)...))
	if len(pcm) != 1600 {
		t.Fatalf("%d samples, want 1600 (0.2 s at 8 kHz)", len(pcm))
	}
	if l := dsp.Level(pcm); l < -30 || l > -10 {
		t.Errorf("level %.1f dBFS, want noise of amplitude 0.3", l)
	}
}

// sox is the second outside writer: its WAV reads back as the tone asked.
func TestSox(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.wav")
	audiotest.Sox(t, "-n", "-r", "16000", "-c", "1", "-b", "16", path, "synth", "0.1", "sine", "1000", "vol", "0.5")
	r, err := wav.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	pcm := readAll(t, r)
	if len(pcm) != 1600 {
		t.Errorf("%d samples, want 1600", len(pcm))
	}
	if a := dsp.Goertzel(pcm, r.Format(), 1000); math.Abs(a-0.5) > 0.01 {
		t.Errorf("1 kHz at %.3f, want 0.5", a)
	}
	if out := string(audiotest.Sox(t, "--i", "-r", path)); out != "16000\n" {
		t.Errorf("sox --i -r = %q, want the rate on stdout", out)
	}
}

func ExampleTrimSilence() {
	played := []int16{0, 0, 0, 0, 120, -80, 300, 0, 0, 0}
	fmt.Println(audiotest.TrimSilence(played, 2))
	// Output: [120 -80 300 0]
}

func channel(p []int16, channels, c int) []int16 {
	out := make([]int16, 0, len(p)/channels)
	for i := c; i < len(p); i += channels {
		out = append(out, p[i])
	}
	return out
}

func readAll(t *testing.T, s audio.Source) []int16 {
	t.Helper()
	var out []int16
	buf := make([]int16, 1000)
	for {
		n, err := s.Read(buf)
		out = append(out, buf[:n]...)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}
