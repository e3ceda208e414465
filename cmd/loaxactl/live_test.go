package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/audio/live"
	"github.com/loaxa/loaxa/internal/audiotest"
	"github.com/loaxa/loaxa/internal/clock"
	"github.com/loaxa/loaxa/internal/mqtttest"
)

const liveTopic = root + "/live/studio-1"

// startLive runs loaxactl with stdin in the background.
func (h *harness) startLive(stdin io.Reader, args ...string) *running {
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{t: h.t, stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel, done: make(chan int, 1)}
	c := h.cli(r.stdout, r.stderr)
	c.Stdin = stdin
	c.Clock = stalling{h.clk}
	go func() { r.done <- c.Run(ctx, args) }()
	h.t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

// stalling is the harness's fake clock as a loaded machine shows it to
// loaxactl: the goroutine that arms a timer is descheduled right after,
// for long enough that pace sees the timer many times over. Pacing must
// hold anyway: time moves only while loaxactl waits on a timer, and each
// wait is one frame. (A talk that armed a timer it did not wait on, as
// loaxactl once did, sent frames 0 s apart under load.)
type stalling struct{ *clock.Fake }

// stall is long against pace's 100 µs poll: about 20 polls.
const stall = 2 * time.Millisecond

func (s stalling) NewTimer(d time.Duration) clock.Timer {
	t := s.Fake.NewTimer(d)
	time.Sleep(stall) // stands for preemption, not a wait
	return stallingTimer{t}
}

type stallingTimer struct{ clock.Timer }

func (t stallingTimer) Reset(d time.Duration) {
	t.Timer.Reset(d)
	time.Sleep(stall)
}

// pace plays the part of time for a live talk: whenever loaxactl waits
// for its next frame, one frame's worth of fake time passes. It returns
// the exit status; stop, if not nil, is called after each step and ends
// pacing when it returns true.
func (h *harness) pace(r *running, stop func() bool) int {
	h.t.Helper()
	deadline := time.Now().Add(3 * mqtttest.WaitTimeout)
	for {
		select {
		case code := <-r.done:
			r.done <- code // for wait and the Cleanup
			return code
		default:
		}
		if stop != nil && stop() {
			return -1
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("loaxactl live did not finish\nstderr:\n%s", r.stderr)
		}
		if h.clk.Waiters() > 0 {
			h.clk.Advance(live.DefaultFrameDuration)
		} else {
			time.Sleep(100 * time.Microsecond)
		}
	}
}

// subscribeLive subscribes to topic with a client that hands messages
// over in arrival order (mqtttest's Subscribe does not promise order).
func (h *harness) subscribeLive(topic string) <-chan mqtttest.Message {
	h.t.Helper()
	ch := make(chan mqtttest.Message, 1024)
	cl := mqtttest.Connect(h.t, mqtttest.ClientOptions(h.b, "live-sub").SetOrderMatters(true))
	mqtttest.Wait(h.t, cl.Subscribe(topic, 0, func(_ mqtt.Client, m mqtt.Message) {
		select {
		case ch <- mqtttest.Message{Topic: m.Topic(), Payload: append([]byte(nil), m.Payload()...), Retained: m.Retained(), QoS: m.Qos()}:
		default:
			h.t.Errorf("more than %d frames unread", cap(ch))
		}
	}), "subscribe to "+topic)
	return ch
}

// collectFrames collects the frames of a talk that has ended, and fails
// unless there are exactly want. Once the broker has seen loaxactl go,
// every frame it sent is on its way to the subscriber, in order, so a
// marker published then arrives after the last of them: anything between
// the frames and the marker is one too many.
func (h *harness) collectFrames(ch <-chan mqtttest.Message, want int) []live.Frame {
	h.t.Helper()
	h.b.WaitDisconnected(h.t, "loaxactl-")
	const marker = "end of the test's talk"
	mqtttest.Publish(h.t, mqtttest.Client(h.t, h.b, "marker"), liveTopic, 0, false, []byte(marker))
	var fs []live.Frame
	for {
		m := mqtttest.Next(h.t, ch)
		if string(m.Payload) == marker {
			break
		}
		if m.Topic != liveTopic || m.Retained || m.QoS != 0 {
			h.t.Fatalf("got %s (retained %v, QoS %d); want frames on %s at QoS 0, not retained", m.Topic, m.Retained, m.QoS, liveTopic)
		}
		f, err := live.ParseFrame(m.Payload)
		if err != nil {
			h.t.Fatalf("frame %d: %v", len(fs), err)
		}
		fs = append(fs, f)
	}
	if len(fs) != want {
		h.t.Fatalf("%d frames, want %d", len(fs), want)
	}
	return fs
}

// checkTalk checks what the pole relies on: consecutive seqs, capture
// times one frame apart as the fake clock paced them, the end flag on the
// last frame only.
func checkTalk(t *testing.T, fs []live.Frame, codec live.Codec) {
	t.Helper()
	for i, f := range fs {
		if f.Codec != codec || f.Rate != 48000 || f.Channels != 1 || f.Samples != 960 {
			t.Errorf("frame %d is %v %d Hz × %d, %d samples; want %v 48 kHz mono, 960", i, f.Codec, f.Rate, f.Channels, f.Samples, codec)
		}
		if f.Last != (i == len(fs)-1) {
			t.Errorf("frame %d of %d: last %v", i, len(fs), f.Last)
		}
		if i == 0 {
			continue
		}
		if f.Seq != fs[i-1].Seq+1 {
			t.Errorf("frame %d: seq %d after %d", i, f.Seq, fs[i-1].Seq)
		}
		if d := f.Capture.Sub(fs[i-1].Capture); d != live.DefaultFrameDuration {
			t.Errorf("frame %d captured %v after the previous one; want 20ms", i, d)
		}
	}
}

// A WAV file at another rate and channel count goes out as 48 kHz mono
// Opus frames, paced one per 20 ms, and a pole's jitter buffer plays the
// tone back.
func TestLiveSendsWAV(t *testing.T) {
	h := newHarness(t)
	sub := h.subscribeLive(root + "/live/#")
	in := audio.Format{Rate: 16000, Channels: 2}
	path := filepath.Join(t.TempDir(), "talk.wav")
	audiotest.WriteWAV(t, path, in, audiotest.Sine(in, 1000, 0.5, 16000)) // 1 s

	r := h.startLive(nil, "live", "studio-1", path)
	if code := h.pace(r, nil); code != ExitOK {
		t.Fatalf("loaxactl live = %d\nstderr:\n%s", code, r.stderr)
	}
	fs := h.collectFrames(sub, 50) // 1 s in 20 ms frames
	checkTalk(t, fs, live.CodecOpus)
	if !strings.Contains(r.stdout.String(), "sent 50 frames (1s of audio)") {
		t.Errorf("stdout %q; want the count of frames sent", r.stdout)
	}

	// What a pole would play.
	hub := live.NewHub(live.Options{MaxLatency: 2 * time.Second})
	src := hub.Open(context.Background(), "studio-1", audio.Format{Rate: 48000, Channels: 1})
	defer src.Close()
	for _, f := range fs {
		b, _ := f.Marshal()
		hub.Deliver("studio-1", b, time.Now())
	}
	var out []int16
	for {
		p := make([]int16, 960)
		n, err := src.Read(p)
		out = append(out, p[:n]...)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	mid := out[12000:36000]
	if on, off := audiotest.GoertzelPower(mid, 48000, 1000), audiotest.GoertzelPower(mid, 48000, 700); on < 30e6 || on < 1000*off {
		t.Errorf("the pole would play 1 kHz at power %.3g (700 Hz: %.3g); want the tone", on, off)
	}
}

// An MP3 file (44.1 kHz stereo, made by ffmpeg) goes out as 48 kHz mono
// Opus frames, one per 20 ms of its audio.
func TestLiveSendsMP3(t *testing.T) {
	path := filepath.Join(t.TempDir(), "talk.mp3")
	audiotest.EncodeFile(t, path, append(audiotest.SineInput(1, 44100, 1000), "-ac", "2", "-b:a", "128k")...)
	h := newHarness(t)
	sub := h.subscribeLive(liveTopic)
	r := h.startLive(nil, "live", "studio-1", path)
	if code := h.pace(r, nil); code != ExitOK {
		t.Fatalf("loaxactl live = %d\nstderr:\n%s", code, r.stderr)
	}
	if !strings.Contains(r.stderr.String(), "44100 Hz × 2 ch") {
		t.Errorf("stderr %q; want it to name the MP3's format", r.stderr)
	}
	// An MP3 encoder pads the start and end of its audio (here to about
	// 1.05 s): 52 to 54 frames of 20 ms.
	var fs []live.Frame
	for {
		m := mqtttest.Next(t, sub)
		f, err := live.ParseFrame(m.Payload)
		if err != nil {
			t.Fatal(err)
		}
		fs = append(fs, f)
		if f.Last {
			break
		}
	}
	if len(fs) < 50 || len(fs) > 55 {
		t.Errorf("%d frames for 1 s of MP3; want about 50", len(fs))
	}
	checkTalk(t, fs, live.CodecOpus)
}

// Raw PCM on stdin, sent as PCM frames, arrives bit for bit.
func TestLiveSendsStdinPCM(t *testing.T) {
	h := newHarness(t)
	sub := h.subscribeLive(liveTopic)
	pcm := audiotest.Sine(mono48, 440, 0.5, 24000-100) // 0.5 s less 100 samples
	raw := make([]byte, 2*len(pcm)+1)                  // and half a sample, dropped
	for i, v := range pcm {
		binary.LittleEndian.PutUint16(raw[2*i:], uint16(v))
	}
	r := h.startLive(bytes.NewReader(raw), "live", "studio-1", "--pcm", "--format", "s16le", "-")
	if code := h.pace(r, nil); code != ExitOK {
		t.Fatalf("loaxactl live = %d\nstderr:\n%s", code, r.stderr)
	}
	fs := h.collectFrames(sub, 25)
	checkTalk(t, fs, live.CodecPCM)
	var got []byte
	for _, f := range fs {
		got = append(got, f.Payload...)
	}
	want := append(raw[:len(raw)-1], make([]byte, 200)...) // the last frame padded with silence
	if !bytes.Equal(got, want) {
		t.Errorf("the PCM sent differs from stdin")
	}
}

// Ctrl-C ends the talk with a frame flagged last, so poles stop at once.
func TestLiveInterrupted(t *testing.T) {
	h := newHarness(t)
	sub := h.subscribeLive(liveTopic)
	r := h.startLive(zeros{}, "live", "studio-1", "--format", "s16le", "-")
	var fs []live.Frame
	h.pace(r, func() bool {
		select {
		case m := <-sub:
			f, err := live.ParseFrame(m.Payload)
			if err != nil {
				t.Fatal(err)
			}
			fs = append(fs, f)
		default:
		}
		return len(fs) == 10
	})
	r.cancel()
	code, _, stderr := r.wait()
	if code != ExitInterrupted {
		t.Errorf("exit %d after Ctrl-C; want %d", code, ExitInterrupted)
	}
	for {
		m := mqtttest.Next(t, sub)
		f, err := live.ParseFrame(m.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if f.Seq != fs[len(fs)-1].Seq+1 {
			t.Fatalf("seq %d after %d", f.Seq, fs[len(fs)-1].Seq)
		}
		fs = append(fs, f)
		if f.Last {
			break
		}
	}
	if !strings.Contains(stderr, "the talk was ended early") {
		t.Errorf("stderr %q; want it to say the talk was ended", stderr)
	}
}

// zeros is an endless silent stdin.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// --loss and --jitter drop and reorder frames, as a bad link would; the
// talk still ends on the last seq.
func TestLiveInjectsLossAndJitter(t *testing.T) {
	h := newHarness(t)
	sub := h.subscribeLive(liveTopic)
	raw := make([]byte, 2*48000*2) // 2 s of silence
	r := h.startLive(bytes.NewReader(raw), "live", "studio-1", "--format", "s16le", "--loss", "20", "--jitter", "60ms", "-")
	if code := h.pace(r, nil); code != ExitOK {
		t.Fatalf("loaxactl live = %d\nstderr:\n%s", code, r.stderr)
	}
	var sent, dropped int
	out := r.stdout.String()
	if i := strings.Index(out, "sent "); i < 0 {
		t.Fatalf("stdout %q", out)
	} else if _, err := fmt.Sscanf(out[i:], "sent %d frames", &sent); err != nil {
		t.Fatalf("stdout %q: %v", out, err)
	}
	if i := strings.Index(out, "dropped "); i >= 0 {
		_, _ = fmt.Sscanf(out[i:], "dropped %d", &dropped)
	}
	if sent+dropped != 100 || dropped == 0 {
		t.Fatalf("sent %d, dropped %d; want 100 frames with some dropped", sent, dropped)
	}
	fs := h.collectFrames(sub, sent)
	seen := map[uint32]bool{}
	reordered := 0
	var maxSeq uint32
	for i, f := range fs {
		if seen[f.Seq] {
			t.Errorf("seq %d sent twice", f.Seq)
		}
		seen[f.Seq] = true
		if i > 0 && f.Seq < fs[i-1].Seq {
			reordered++
		}
		maxSeq = max(maxSeq, f.Seq)
	}
	if reordered == 0 {
		t.Error("no frame arrived out of order with 60 ms of jitter on 20 ms frames")
	}
	for _, f := range fs {
		if f.Last != (f.Seq == maxSeq) {
			t.Errorf("frame %d: last %v; want the end flag on the highest seq %d only", f.Seq, f.Last, maxSeq)
		}
	}
}

func TestLiveUsageErrors(t *testing.T) {
	notWAV := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(notWAV, []byte("hello, this is not audio"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no file", []string{"live", "studio-1"}, "live takes CHANNEL FILE (or - for stdin), got 1 argument(s)"},
		{"bad channel", []string{"live", "Studio/1", "x.wav"}, `channel "Studio/1"`},
		{"group", []string{"live", "--group", "all", "studio-1", "x.wav"}, "--group is for send"},
		{"missing file", []string{"live", "studio-1", "/nonexistent.wav"}, "open /nonexistent.wav"},
		{"not audio", []string{"live", "studio-1", notWAV}, "neither a WAV nor an MP3 file"},
		{"rate without format", []string{"live", "--rate", "16000", "studio-1", notWAV}, "--rate and --channels describe raw PCM input"},
		{"bad format", []string{"live", "--format", "f32le", "studio-1", "-"}, `--format "f32le": expected s16le`},
		{"bad raw rate", []string{"live", "--format", "s16le", "--rate", "100", "studio-1", "-"}, "--rate/--channels"},
		{"bad loss", []string{"live", "--loss", "100", "studio-1", "-"}, "--loss must be 0 to below 100"},
		{"bad bitrate", []string{"live", "--bitrate", "1", "studio-1", "-"}, "bitrate 1"},
		{"bad play group", []string{"live", "--play", "Xa_1", "studio-1", "-"}, `--play "Xa_1": expected a GROUP`},
		{"bad play device", []string{"live", "--play", "dev/P1", "studio-1", "-"}, `device id "P1"`},
		{"bad play priority", []string{"live", "--play", "all", "--priority", "urgent", "studio-1", "-"}, `--priority "urgent"`},
		{"sync without play", []string{"live", "--sync", "studio-1", "-"}, "--sync goes with --play"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr syncBuffer
			c := &CLI{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }, Stdin: strings.NewReader("")}
			code := c.Run(context.Background(), append([]string{"--broker", "tcp://127.0.0.1:1"}, tt.args...))
			if code != ExitUsage || !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("loaxactl %s\n= %d, stderr:\n%s\nwant %d and %q", strings.Join(tt.args, " "), code, stderr.String(), ExitUsage, tt.want)
			}
		})
	}
}

func TestLiveBrokerUnreachable(t *testing.T) {
	var stdout, stderr syncBuffer
	c := &CLI{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }, Stdin: zeros{}}
	code := c.Run(context.Background(), []string{"--broker", "tcp://127.0.0.1:1", "--timeout", "2s", "live", "--format", "s16le", "studio-1", "-"})
	if code != ExitUnavailable {
		t.Errorf("= %d, stderr %s; want %d", code, stderr.String(), ExitUnavailable)
	}
}
