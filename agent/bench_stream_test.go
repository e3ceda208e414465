package agent_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/internal/audiotest"
	"github.com/loaxa/loaxa/internal/mqtttest"
)

// BenchmarkStreamingFootprint runs the loaxad binary on simulated hardware
// while it plays a 128 kbit/s stereo MP3 served over HTTP, and reports the
// agent's CPU share (of one core) and its resident memory.
//
//	go test -run '^$' -bench StreamingFootprint -benchtime 1x ./agent/
func BenchmarkStreamingFootprint(b *testing.B) {
	dir := b.TempDir()
	mp3 := filepath.Join(dir, "programme.mp3")
	// Pink noise plus a tone: closer to music for the decoder than a pure tone.
	audiotest.EncodeFile(b, mp3, append(append(audiotest.PinkInput(60, 44100, 0.3), audiotest.SineInput(60, 44100, 440)...),
		"-filter_complex", "amix=inputs=2", "-ac", "2", "-b:a", "128k")...)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/mpeg")
		http.ServeFile(w, r, mp3)
	}))
	defer srv.Close()
	br := mqtttest.Start(b)
	topics := wire.Topics{Root: wire.DefaultRoot, ID: "pole-footprint"}
	watch := br.Subscribe(b, "loaxa/v1/dev/pole-footprint/#")
	op := mqtttest.Client(b, br, "operator")
	proc := runLoaxad(b, "--sim", "--broker", br.URL(), "--id", "pole-footprint", "--data-dir", filepath.Join(dir, "data"))
	mqtttest.Next(b, watch)
	for b.Loop() {
		mqtttest.Publish(b, op, topics.Cmd(), 1, false, []byte(`{"id":"s1","cmd":"play","args":{"source":"`+srv.URL+`/programme.mp3"}}`))
		time.Sleep(3 * time.Second) // connected, decoding, steady
		cpu0, _ := procCPU(proc.Process.Pid)
		t0 := time.Now()
		time.Sleep(20 * time.Second)
		cpu1, rss := procCPU(proc.Process.Pid)
		share := (cpu1 - cpu0).Seconds() / time.Since(t0).Seconds()
		b.ReportMetric(share*100, "cpu-%-of-core")
		b.ReportMetric(float64(rss)/(1<<20), "rss-MiB")
	}
}

// procCPU reads a process's user+system CPU time and its resident set size.
func procCPU(pid int) (time.Duration, int64) {
	stat, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const hz = 100 // USER_HZ on Linux
	status, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	var rss int64
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			rss = kb << 10
		}
	}
	return time.Duration(utime+stime) * time.Second / hz, rss
}
