package stream

import (
	"bytes"
	"net/http"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/loaxa/loaxa/audio/mpg123"
	"github.com/loaxa/loaxa/internal/audiotest"
)

// benchMP3 encodes 60 s of stereo pink noise at 128 kbit/s: noise makes
// the decoder work as hard as music does, unlike a pure tone.
func benchMP3(b *testing.B) []byte {
	b.Helper()
	return audiotest.Encode(b, "noise.mp3", append(audiotest.PinkInput(60, 0, 0.3), "-ac", "2", "-ar", "44100", "-b:a", "128k")...)
}

// cpuTime is the process's user+system CPU time: the server goroutines of
// the loopback benchmark count, as they would not on a pole, so the
// stream's overhead is an upper bound.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports CPU milliseconds per second of audio decoded.
func reportCPU(b *testing.B, cpu time.Duration, samples int64) {
	audioSeconds := float64(samples) / (44100 * 2)
	b.ReportMetric(float64(cpu.Milliseconds())/audioSeconds, "cpu-ms/audio-s")
}

// BenchmarkDecodeMemory is the baseline: the MP3 decoded from memory.
func BenchmarkDecodeMemory(b *testing.B) {
	data := benchMP3(b)
	buf := make([]int16, 4096)
	var samples int64
	start := cpuTime()
	for b.Loop() {
		r, err := mpg123.NewReader(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		for {
			n, err := r.Read(buf)
			samples += int64(n)
			if err != nil {
				break
			}
		}
		r.Close()
	}
	reportCPU(b, cpuTime()-start, samples)
}

// BenchmarkStreamICY decodes the same MP3 served over loopback HTTP as an
// Icecast stream with metadata every 16000 bytes.
func BenchmarkStreamICY(b *testing.B) {
	data := benchMP3(b)
	body := icyBody(data, 16000, icyMeta)
	srv := newServerB(b, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/mpeg")
		w.Header().Set("icy-metaint", strconv.Itoa(16000))
		w.Write(body)
	})
	buf := make([]int16, 4096)
	var samples int64
	start := cpuTime()
	for b.Loop() {
		s, err := Open(b.Context(), srv.URL, Options{MaxRetries: -1})
		if err != nil {
			b.Fatal(err)
		}
		for got := int64(0); got < int64(60*44100*2)-44100; {
			n, err := s.Read(buf)
			got += int64(n)
			samples += int64(n)
			if err != nil {
				b.Fatal(err)
			}
		}
		s.Close()
	}
	reportCPU(b, cpuTime()-start, samples)
}
