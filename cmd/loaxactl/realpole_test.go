package main

// Helpers for the tests and benchmarks that run the real loaxad binary on
// simulated hardware and `loaxactl live` in this process: what the poles
// played is read from their speaker.wav and its timing records.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/audio/live"
	"github.com/loaxa/loaxa/audio/wav"
	"github.com/loaxa/loaxa/internal/mqtttest"
	"github.com/loaxa/loaxa/internal/testbin"
	"github.com/loaxa/loaxa/sim"
)

// realPole is a loaxad --sim process.
type realPole struct {
	id, dir string
	cmd     *exec.Cmd
	logs    *syncBuffer
}

// startRealPole runs loaxad --sim with id, its DATA_DIR/loaxa.toml holding
// conf (TOML; may be ""), and clock as DATA_DIR/sim/clock ("" leaves the
// simulated clock synchronised).
func startRealPole(t testing.TB, b *mqtttest.Broker, id, conf, clk string) *realPole {
	t.Helper()
	bin, err := testbin.Path("loaxad")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "sim"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "loaxa.toml"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if clk != "" {
		if err := os.WriteFile(filepath.Join(dir, "sim", sim.ClockFile), []byte(clk+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := &realPole{id: id, dir: dir, logs: &syncBuffer{}}
	p.cmd = exec.Command(bin, "--sim", "--broker", b.URL(), "--id", id, "--data-dir", dir)
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		p.cmd.Wait()
		if t.Failed() {
			t.Logf("loaxad %s log:\n%s", id, p.logs.String())
		}
	})
	return p
}

// stop ends loaxad as systemd would, so the WAV and timing files are
// complete.
func (p *realPole) stop(t testing.TB) {
	t.Helper()
	p.cmd.Process.Signal(os.Interrupt)
	p.cmd.Wait()
}

// speaker returns what the pole played, and the timing records.
func (p *realPole) speaker(t testing.TB) ([]int16, audio.Format, []sim.SpeakerTiming) {
	t.Helper()
	path := filepath.Join(p.dir, "sim", sim.SpeakerFile)
	r, err := wav.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var pcm []int16
	buf := make([]int16, 9600)
	for {
		n, err := r.Read(buf)
		pcm = append(pcm, buf[:n]...)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	recs, err := sim.ReadSpeakerTiming(path)
	if err != nil {
		t.Fatal(err)
	}
	return pcm, r.Format(), recs
}

// burstTalk is mono 48 kHz s16le: bursts of hz, on for `on` every
// `period`, for d; lead, if > 0, is a first tone of leadHz that long.
func burstTalk(d, period, on time.Duration, hz float64, lead time.Duration, leadHz float64) []byte {
	const rate = 48000
	n := int(d.Seconds() * rate)
	out := make([]byte, 0, 2*n)
	for i := range n {
		t := time.Duration(i) * time.Second / rate
		v := 0.0
		switch {
		case t < lead:
			v = 0.5 * math.Sin(2*math.Pi*leadHz*float64(i)/rate)
		case (t-lead)%period < on:
			v = 0.5 * math.Sin(2*math.Pi*hz*float64(i)/rate)
		}
		out = binary.LittleEndian.AppendUint16(out, uint16(int16(v*32767)))
	}
	return out
}

// onsets returns the frame indices in pcm where sound starts after at
// least 50 ms of quiet: the loudness crosses a third of the recording's
// peak.
func onsets(pcm []int16, f audio.Format) []int64 {
	peak := 0
	for _, v := range pcm {
		peak = max(peak, abs(int(v)))
	}
	thr := peak / 3
	quiet := int64(f.Rate / 20)
	var out []int64
	var last int64 = -quiet
	for i := 0; i < len(pcm)/f.Channels; i++ {
		if abs(int(pcm[i*f.Channels])) < thr {
			continue
		}
		if int64(i)-last >= quiet {
			out = append(out, int64(i))
		}
		last = int64(i)
	}
	return out
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// heardAt maps onsets to wall-clock times through the timing records.
func heardAt(t testing.TB, idx []int64, f audio.Format, recs []sim.SpeakerTiming) []time.Time {
	t.Helper()
	out := make([]time.Time, 0, len(idx))
	for _, i := range idx {
		at, ok := sim.SoundedAt(recs, i, f.Rate)
		if !ok {
			t.Fatalf("no timing record covers frame %d", i)
		}
		out = append(out, at)
	}
	return out
}

// frameLog records the capture time of every frame on a live topic.
type frameLog struct {
	mu       sync.Mutex // guards captures
	captures map[uint32]time.Time
	first    uint32
	have     bool
}

func watchFrames(t testing.TB, b *mqtttest.Broker, topic string) *frameLog {
	t.Helper()
	fl := &frameLog{captures: map[uint32]time.Time{}}
	cl := mqtttest.Client(t, b, "frame-watch")
	mqtttest.Wait(t, cl.Subscribe(topic, 0, func(_ mqtt.Client, m mqtt.Message) {
		f, err := live.ParseFrame(m.Payload())
		if err != nil {
			return
		}
		fl.mu.Lock()
		defer fl.mu.Unlock()
		if !fl.have || int32(f.Seq-fl.first) < 0 {
			fl.first, fl.have = f.Seq, true
		}
		fl.captures[f.Seq] = f.Capture
	}), "subscribe "+topic)
	return fl
}

// captured returns when input sample i (48 kHz, 960-sample frames) was
// captured, by its frame's header.
func (fl *frameLog) captured(i int64) (time.Time, bool) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	c, ok := fl.captures[fl.first+uint32(i/960)]
	return c.Add(time.Duration(i%960) * time.Second / 48000), ok
}

// runTalk runs `loaxactl live` in this process with pcm on stdin.
func runTalk(t testing.TB, ctx context.Context, b *mqtttest.Broker, pcm []byte, args ...string) {
	t.Helper()
	var out, errOut syncBuffer
	c := &CLI{Stdout: &out, Stderr: &errOut, Stdin: bytes.NewReader(pcm), Getenv: func(string) string { return "" }}
	full := append([]string{"--broker", b.URL()}, args...)
	if code := c.Run(ctx, full); code != ExitOK {
		t.Fatalf("loaxactl %s = %d: %s", strings.Join(full, " "), code, errOut.String())
	}
}

// waitEvent waits for an event of type typ from device id.
func waitEvent(t testing.TB, ch <-chan mqtttest.Message, id, typ string) mqtttest.Message {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case m := <-ch:
			if (id == "" || strings.Contains(m.Topic, "/dev/"+id+"/event")) && strings.Contains(string(m.Payload), `"type":"`+typ+`"`) {
				return m
			}
		case <-deadline:
			t.Fatalf("%s: no %s event", id, typ)
		}
	}
}
