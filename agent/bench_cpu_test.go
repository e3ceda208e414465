package agent_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/internal/audiotest"
	"github.com/loaxa/loaxa/internal/mqtttest"
	"github.com/loaxa/loaxa/internal/testbin"
)

// cpuWindow is how much audio each CPU figure is measured over, once
// play is steady.
const cpuWindow = 20 * time.Second

// BenchmarkAudioCPU measures the CPU time the loaxad binary spends per
// second of audio it plays (user + system, from /proc/PID/stat, over a
// fixed stretch of real-time audio), beside what ffmpeg needs to decode
// and resample the same MP3 to a 48 kHz WAV file (`ffmpeg -i same.mp3
// -ar 48000 out.wav`, its own rusage, per second of audio), measured in
// the same run. Sub-benchmarks:
//
//   - mp3-sim: a 128 kbit/s 44.1 kHz stereo MP3 over HTTP to the simulated
//     speaker (which also writes speaker.wav and its timing records);
//   - mp3-portaudio-jack: the same through PortAudio to JACK's dummy
//     driver, which is paced in real time (needs jackd2; skipped without);
//   - live-sim: a live talk (`loaxactl live --play`, 24 kbit/s Opus) to
//     the simulated speaker.
//
// Run it with
//
//	go test -run '^$' -bench AudioCPU -benchtime 1x ./agent/
func BenchmarkAudioCPU(b *testing.B) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		b.Skip("ffmpeg makes the test MP3 and is the reference; `make deps` installs it")
	}
	dir := b.TempDir()
	mp3 := filepath.Join(dir, "programme.mp3")
	// Pink noise plus a tone: closer to music for the decoder than a tone.
	out, err := exec.Command("ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "anoisesrc=color=pink:amplitude=0.3:duration=60:sample_rate=44100",
		"-f", "lavfi", "-i", "sine=frequency=440:duration=60:sample_rate=44100", "-filter_complex", "amix=inputs=2", "-ac", "2", "-b:a", "128k", mp3).CombinedOutput()
	if err != nil {
		b.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/mpeg")
		http.ServeFile(w, r, mp3)
	}))
	defer srv.Close()
	ffmpeg := ffmpegCPU(b, mp3, 60)
	b.Run("mp3-sim", func(b *testing.B) {
		agentCPU(b, ffmpeg, benchEnv(), []string{"--sim"}, "", `{"source":"`+srv.URL+`/programme.mp3","chime":false}`, nil)
	})
	b.Run("mp3-portaudio-jack", func(b *testing.B) {
		env := append(startJack(b), benchEnv()...)
		agentCPU(b, ffmpeg, env, nil, "[audio]\ndevice = \"system\"\n", `{"source":"`+srv.URL+`/programme.mp3","chime":false}`, nil)
	})
	b.Run("live-sim", func(b *testing.B) {
		wav := filepath.Join(dir, "talk.wav")
		out, err := exec.Command("ffmpeg", "-loglevel", "error", "-y", "-i", mp3, "-ac", "1", "-ar", "48000", "-t", "40", wav).CombinedOutput()
		if err != nil {
			b.Fatalf("ffmpeg: %v\n%s", err, out)
		}
		agentCPU(b, ffmpeg, benchEnv(), []string{"--sim"}, "", "", func(br *mqtttest.Broker, id string) *exec.Cmd {
			ctl, err := testbin.Path("loaxactl")
			if err != nil {
				b.Fatal(err)
			}
			cmd := exec.Command(ctl, "--broker", br.URL(), "live", "--play", "dev/"+id, "bench-talk", wav)
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			return cmd
		})
	})
}

// ffmpegCPU is ffmpeg's CPU time per second of audio to decode and
// resample the MP3 (secs long) to a 48 kHz WAV, the best of three runs.
func ffmpegCPU(b *testing.B, mp3 string, secs float64) float64 {
	best := 0.0
	for range 3 {
		cmd := exec.Command("ffmpeg", "-loglevel", "error", "-y", "-i", mp3, "-ar", "48000", filepath.Join(b.TempDir(), "out.wav"))
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("ffmpeg: %v\n%s", err, out)
		}
		cpu := (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds() / secs
		if best == 0 || cpu < best {
			best = cpu
		}
	}
	return best
}

// agentCPU runs loaxad, starts the play (args) or a talk (talk), waits for
// steady play, and reports the agent's CPU per second of audio over
// cpuWindow, and its ratio to ffmpeg's.
func agentCPU(b *testing.B, ffmpeg float64, env, flags []string, conf, args string, talk func(*mqtttest.Broker, string) *exec.Cmd) {
	br := mqtttest.Start(b)
	id := "pole-cpu"
	topics := wire.Topics{Root: wire.DefaultRoot, ID: id}
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "loaxa.toml"), []byte(conf), 0o644); err != nil {
		b.Fatal(err)
	}
	watch := br.Subscribe(b, "loaxa/v1/dev/"+id+"/#")
	op := mqtttest.Client(b, br, "operator")
	proc := runLoaxadEnv(b, env, append(flags, "--broker", br.URL(), "--id", id, "--data-dir", dir)...)
	// Stopped as systemd would, before the JACK server: a JACK client
	// SIGKILLed mid-cycle can hang jackd's own shutdown for good.
	b.Cleanup(func() {
		if _, stopped := terminate(proc); !stopped {
			b.Logf("loaxad did not stop within 10 s of SIGTERM")
		}
	})
	waitMsg(b, watch, func(m mqtttest.Message) bool {
		return m.Topic == topics.Status() && strings.Contains(string(m.Payload), `"online":true`)
	})
	time.Sleep(1500 * time.Millisecond) // past the pole's hold on fresh commands
	for b.Loop() {
		if talk != nil {
			cmd := talk(br, id)
			defer func() { cmd.Process.Kill(); cmd.Wait() }()
		} else {
			mqtttest.Publish(b, op, topics.Cmd(), 1, false, []byte(`{"id":"cpu1","cmd":"play","args":`+args+`}`))
		}
		waitMsg(b, watch, func(m mqtttest.Message) bool {
			return m.Topic == topics.Event() && strings.Contains(string(m.Payload), `"type":"play.start"`)
		})
		time.Sleep(3 * time.Second) // connected, decoding, steady
		cpu0, _ := procCPU(proc.Process.Pid)
		t0 := time.Now()
		time.Sleep(cpuWindow)
		cpu1, rss := procCPU(proc.Process.Pid)
		if cpu1 == 0 {
			b.Fatal("loaxad is gone: it crashed while playing (its log follows)")
		}
		perSec := (cpu1 - cpu0).Seconds() / time.Since(t0).Seconds()
		b.ReportMetric(perSec*1000, "agent-cpu-ms/audio-s")
		b.ReportMetric(ffmpeg*1000, "ffmpeg-cpu-ms/audio-s")
		b.ReportMetric(perSec/ffmpeg, "x-ffmpeg")
		b.ReportMetric(float64(rss)/(1<<20), "rss-MiB")
		b.ReportMetric(0, "ns/op")
	}
}

// benchEnv lets a run try runtime settings (LOAXA_BENCH_ENV="GOMAXPROCS=1").
func benchEnv() []string {
	if e := os.Getenv("LOAXA_BENCH_ENV"); e != "" {
		return strings.Fields(e)
	}
	return nil
}

// waitMsg waits for a message for which ok is true.
func waitMsg(b *testing.B, ch <-chan mqtttest.Message, ok func(mqtttest.Message) bool) {
	b.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case m := <-ch:
			if ok(m) {
				return
			}
		case <-deadline:
			b.Fatal("timed out waiting for the pole")
		}
	}
}

// startJack runs JACK's dummy driver (paced in real time, no sound card)
// with 10 ms periods for PortAudio's "system" device, and returns loaxad's
// environment.
func startJack(b *testing.B) []string {
	j := audiotest.StartJACK(b, 480)
	return []string{j.Env(), "JACK_NO_AUDIO_RESERVATION=1"}
}
