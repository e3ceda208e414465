package media

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// BenchmarkSeekFrameMP3 measures what resuming an MP3 after a restart
// costs: SeekFrame to the end of 60 s of 128 kbit/s stereo pink noise,
// from the start (decode and discard).
func BenchmarkSeekFrameMP3(b *testing.B) {
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		b.Skip("ffmpeg not found in PATH")
	}
	dir := b.TempDir()
	cmd := exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
		"-f", "lavfi", "-i", "anoisesrc=color=pink:amplitude=0.3:duration=60",
		"-ac", "2", "-ar", "44100", "-b:a", "128k", filepath.Join(dir, "noise.mp3"))
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("ffmpeg: %v\n%s", err, msg)
	}
	src, err := Open(dir, "noise.mp3")
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	f := src.(*File)
	const target = 59 * 44100
	for b.Loop() {
		if err := f.SeekFrame(0); err != nil {
			b.Fatal(err)
		}
		if err := f.SeekFrame(target); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N)/59, "ms/audio-s")
}
