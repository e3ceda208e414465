package media

import (
	"path/filepath"
	"testing"

	"github.com/loaxa/loaxa/internal/audiotest"
)

// BenchmarkSeekFrameMP3 measures what resuming an MP3 after a restart
// costs: SeekFrame to the end of 60 s of 128 kbit/s stereo pink noise,
// from the start (decode and discard).
func BenchmarkSeekFrameMP3(b *testing.B) {
	dir := b.TempDir()
	audiotest.EncodeFile(b, filepath.Join(dir, "noise.mp3"), append(audiotest.PinkInput(60, 0, 0.3), "-ac", "2", "-ar", "44100", "-b:a", "128k")...)
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
