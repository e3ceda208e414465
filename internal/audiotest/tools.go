package audiotest

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/loaxa/loaxa/internal/testenv"
)

// FFmpeg runs ffmpeg quietly (-hide_banner -loglevel error -nostdin -y)
// with args and returns what it wrote to stdout. A failure ends the test
// with ffmpeg's message; a missing ffmpeg follows testenv's policy.
func FFmpeg(tb testing.TB, args ...string) []byte {
	tb.Helper()
	bin := testenv.NeedTool(tb, "ffmpeg", "ffmpeg")
	return run(tb, bin, append([]string{"-hide_banner", "-loglevel", "error", "-nostdin", "-y"}, args...))
}

// Sox runs sox with args and returns what it wrote to stdout. A failure
// ends the test with sox's message; a missing sox follows testenv's policy.
func Sox(tb testing.TB, args ...string) []byte {
	tb.Helper()
	bin := testenv.NeedTool(tb, "sox", "sox")
	return run(tb, bin, args)
}

func run(tb testing.TB, bin string, args []string) []byte {
	tb.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

// EncodeFile runs ffmpeg with args and the output path appended: args hold
// the input (e.g. SineInput) and the output options (codec, bit rate).
func EncodeFile(tb testing.TB, path string, args ...string) {
	tb.Helper()
	FFmpeg(tb, append(args[:len(args):len(args)], path)...)
}

// Encode is EncodeFile into a file called name (its extension picks the
// container) in a temporary directory, and returns the file's bytes.
func Encode(tb testing.TB, name string, args ...string) []byte {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), name)
	EncodeFile(tb, path, args...)
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// Decode decodes data, an encoded file called name, with ffmpeg: the
// reference a decoder is held to. The samples are interleaved, in the
// file's own rate and channels.
func Decode(tb testing.TB, name string, data []byte) []int16 {
	tb.Helper()
	in := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(in, data, 0o644); err != nil {
		tb.Fatal(err)
	}
	raw := FFmpeg(tb, "-i", in, "-f", "s16le", "-c:a", "pcm_s16le", "pipe:1")
	pcm := make([]int16, len(raw)/2)
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(raw[2*i:]))
	}
	return pcm
}

// SineInput is the ffmpeg input of seconds of ffmpeg's sine source (1/8 of
// full scale), one channel per frequency: one frequency gives a mono
// stream (add "-ac", "2" for the same tone on both channels, which ffmpeg
// pans at −3 dB), two give a stereo stream whose left and right differ,
// so a swapped or mis-interleaved channel shows. rate 0 is ffmpeg's
// default (44100 Hz).
func SineInput(seconds float64, rate int, hz ...float64) []string {
	src := func(f float64) string {
		s := "sine=frequency=" + num(f) + ":duration=" + num(seconds)
		if rate > 0 {
			s += ":sample_rate=" + strconv.Itoa(rate)
		}
		return s
	}
	switch len(hz) {
	case 0:
		panic("audiotest: SineInput needs a frequency")
	case 1:
		return []string{"-f", "lavfi", "-i", src(hz[0])}
	}
	var graph, pads strings.Builder
	for c, f := range hz {
		graph.WriteString(src(f) + "[c" + strconv.Itoa(c) + "];")
		pads.WriteString("[c" + strconv.Itoa(c) + "]")
	}
	layout := "stereo"
	if len(hz) != 2 {
		layout = strconv.Itoa(len(hz)) + "c"
	}
	graph.WriteString(pads.String() + "join=inputs=" + strconv.Itoa(len(hz)) + ":channel_layout=" + layout + "[a]")
	return []string{"-filter_complex", graph.String(), "-map", "[a]"}
}

// PinkInput is the ffmpeg input of seconds of mono pink noise at amplitude
// (a fraction of full scale). Noise keeps every subband of an MP3 busy, so
// it makes the decoder work as hard as music does, unlike a pure tone.
// rate 0 is ffmpeg's default for the source (48000 Hz).
func PinkInput(seconds float64, rate int, amplitude float64) []string {
	s := "anoisesrc=color=pink:amplitude=" + num(amplitude) + ":duration=" + num(seconds)
	if rate > 0 {
		s += ":sample_rate=" + strconv.Itoa(rate)
	}
	return []string{"-f", "lavfi", "-i", s}
}

func num(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
