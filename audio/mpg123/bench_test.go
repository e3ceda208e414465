package mpg123

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loaxa/loaxa/internal/audiotest"
	"github.com/loaxa/loaxa/internal/testenv"
)

// decodeChildEnv names the file a child test process decodes instead of
// running tests: the benchmark measures this binding as a whole process, as
// it measures ffmpeg and mpg123, so that every column pays its start-up.
const decodeChildEnv = "LOAXA_MPG123_DECODE_CHILD"

// benchFileEnv names an MP3 to benchmark instead of the generated one.
const benchFileEnv = "LOAXA_BENCH_MP3"

func TestMain(m *testing.M) {
	if path := os.Getenv(decodeChildEnv); path != "" {
		if err := decodeChild(path, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// decodeChild decodes a file the way the audio engine will (a Reader over
// the file, one buffer of two stereo frames' worth), then prints the sample
// count and the process CPU time the decode loop alone used.
func decodeChild(path string, w io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	before := processCPU()
	r, err := NewReader(f)
	if err != nil {
		return err
	}
	defer r.Close()
	buf := make([]int16, 2*2*1152)
	total := 0
	for {
		n, err := r.Read(buf)
		total += n
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	loop := processCPU() - before
	rate, channels := r.Format()
	_, err = fmt.Fprintf(w, "%d %d %d %d %s\n", total, rate, channels, loop.Nanoseconds(), r.d.decoderName())
	return err
}

// processCPU returns the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err) // cannot fail with RUSAGE_SELF and a valid pointer
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// childCPU runs cmd and returns the user and system CPU time it used.
func childCPU(b *testing.B, cmd *exec.Cmd) (time.Duration, []byte) {
	b.Helper()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("%v: %v\n%s", cmd.Args, err, stderr.Bytes())
	}
	return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), out
}

// benchFile returns the benchmark's input: 600 s of 128 kbit/s stereo
// 44.1 kHz MP3, pink noise (independent in each channel) mixed with a 440 Hz
// tone. A pure tone would compress into frames that are cheaper to decode
// than music; noise keeps every subband busy. The file takes about 20 s of
// CPU to encode, so it is cached in the temporary directory under a name that
// changes with the recipe.
func benchFile(b *testing.B) string {
	b.Helper()
	if p := os.Getenv(benchFileEnv); p != "" {
		return p
	}
	noise := func(seed string) string {
		return "anoisesrc=color=pink:amplitude=0.25:duration=600:sample_rate=44100:seed=" + seed
	}
	graph := noise("1") + "[nl];" + noise("2") + "[nr];[nl][nr]join=inputs=2:channel_layout=stereo[n];" +
		"sine=frequency=440:duration=600:sample_rate=44100,aformat=channel_layouts=stereo[t];" +
		"[n][t]amix=inputs=2:normalize=0[a]"
	args := []string{"-filter_complex", graph, "-map", "[a]", "-c:a", "libmp3lame", "-b:a", "128k", "-ar", "44100"}
	path := filepath.Join(os.TempDir(), fmt.Sprintf("loaxa-bench-600s-pink-tone-128k-%x.mp3", hash(strings.Join(args, " "))))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	tmp := path + ".tmp.mp3"
	audiotest.FFmpeg(b, append(args, tmp)...)
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	return path
}

// hash is FNV-1a, enough to tell recipes apart in a file name.
func hash(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return h
}

// BenchmarkDecodeVsFFmpeg measures, in the same run and on the same file,
// the CPU time (user + system, from the kernel's rusage of each child
// process) that this binding, `ffmpeg -f null` and, if installed, the mpg123
// command line take to decode it. The runs alternate so that frequency
// scaling and other load hit all of them alike, and the figures are medians
// over the runs, which a busy shared machine disturbs less than sums. The
// figure that matters is x-ffmpeg: this binding's process CPU time over
// ffmpeg's. Run it with -benchtime=Nx: every iteration decodes the whole file
// once with each decoder.
func BenchmarkDecodeVsFFmpeg(b *testing.B) {
	path := benchFile(b)
	ffmpeg := testenv.NeedTool(b, "ffmpeg", "ffmpeg")
	mpg123CLI, _ := exec.LookPath("mpg123")
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}

	var ours, oursLoop, ff, cli []time.Duration
	var audio float64
	var decoder string
	for b.Loop() {
		d, _ := childCPU(b, exec.Command(ffmpeg, "-hide_banner", "-nostats", "-loglevel", "error", "-nostdin", "-i", path, "-f", "null", "-"))
		ff = append(ff, d)

		cmd := exec.Command(self)
		cmd.Env = append(os.Environ(), decodeChildEnv+"="+path)
		d, out := childCPU(b, cmd)
		ours = append(ours, d)
		var samples, rate, channels int
		var loopNS int64
		if _, err := fmt.Sscan(string(out), &samples, &rate, &channels, &loopNS, &decoder); err != nil {
			b.Fatalf("decode child printed %q: %v", out, err)
		}
		oursLoop = append(oursLoop, time.Duration(loopNS))
		audio = float64(samples/channels) / float64(rate)

		if mpg123CLI != "" {
			d, _ := childCPU(b, exec.Command(mpg123CLI, "-q", "-t", path))
			cli = append(cli, d)
		}
	}
	ms := func(d time.Duration) float64 { return d.Seconds() * 1e3 }
	b.ReportMetric(median(ours).Seconds()/median(ff).Seconds(), "x-ffmpeg")
	b.ReportMetric(ms(median(ours)), "ours-cpu-ms")
	b.ReportMetric(ms(median(oursLoop)), "ours-loop-cpu-ms")
	b.ReportMetric(ms(median(ff)), "ffmpeg-cpu-ms")
	b.ReportMetric(ms(median(ours))/audio, "ours-cpu-ms/audio-s")
	if mpg123CLI != "" {
		b.ReportMetric(ms(median(cli)), "mpg123cli-cpu-ms")
		b.ReportMetric(median(cli).Seconds()/median(ff).Seconds(), "mpg123cli-x-ffmpeg")
	}
	b.Logf("%d runs on %s: %.1f s of audio; libmpg123 decoder %s; mpg123 command line %s",
		len(ours), path, audio, decoder, orNone(mpg123CLI))
	b.Logf("CPU ms per run, ours (process): %v", msList(ours))
	b.Logf("CPU ms per run, ffmpeg:         %v", msList(ff))
}

// median returns the middle value of ds (the mean of the middle two for an
// even count).
func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func msList(ds []time.Duration) []int64 {
	out := make([]int64, len(ds))
	for i, d := range ds {
		out[i] = d.Milliseconds()
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "not installed"
	}
	return s
}
