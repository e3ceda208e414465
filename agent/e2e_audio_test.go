package agent_test

import (
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/audio/dsp"
	"github.com/loaxa/loaxa/audio/wav"
	"github.com/loaxa/loaxa/internal/audiotest"
	"github.com/loaxa/loaxa/internal/mqtttest"
	"github.com/loaxa/loaxa/internal/testbin"
	"github.com/loaxa/loaxa/sim"
)

// TestE2ETonePlaysThroughTheWholeChain commands a tone over MQTT to the
// real loaxad binary on simulated hardware and listens to what the
// simulated speaker recorded.
func TestE2ETonePlaysThroughTheWholeChain(t *testing.T) {
	b := mqtttest.Start(t)
	dir := t.TempDir()
	topics := wire.Topics{Root: wire.DefaultRoot, ID: "pole-tone"}
	watch := b.Subscribe(t, "loaxa/v1/dev/pole-tone/#")
	op := mqtttest.Client(t, b, "operator")
	agentProc := runLoaxad(t, "--sim", "--broker", b.URL(), "--id", "pole-tone", "--data-dir", dir)
	until(t, watch, "online", statusIs(topics.Status(), true, 1))

	mqtttest.Publish(t, op, topics.Cmd(), 1, false, []byte(`{"id":"t1","cmd":"play","args":{"source":"tone:1000","duration_s":1.5,"volume":100,"chime":false}}`))
	ack := decode[wire.Ack](t, until(t, watch, "ack t1", ackFor(topics, "t1")))
	if !ack.OK {
		t.Fatalf("ack %+v", ack)
	}
	end := until(t, watch, "play.end", func(m mqtttest.Message) bool {
		return m.Topic == topics.Event() && strings.Contains(string(m.Payload), `"type":"play.end"`)
	})
	var ev wire.Event
	json.Unmarshal(end.Payload, &ev)
	if ev.Data["reason"] != "completed" {
		t.Fatalf("play.end %s", end.Payload)
	}
	// Stop the agent so the WAV header is final, then listen.
	agentProc.Process.Signal(interruptSignal)
	agentProc.Wait()

	r, err := wav.Open(filepath.Join(dir, "sim", sim.SpeakerFile))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f := r.Format()
	var pcm []int16
	buf := make([]int16, 4800)
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
	heard := audiotest.TrimSilence(pcm, f.Channels)
	secs := float64(len(heard)) / float64(f.Rate*f.Channels)
	if math.Abs(secs-1.5) > 0.02 {
		t.Errorf("heard %.3f s of audio, want 1.5 s", secs)
	}
	mid := heard[len(heard)/3 : len(heard)*2/3]
	if a := dsp.Goertzel(mid, f, 1000); math.Abs(a-0.5) > 0.01 {
		t.Errorf("1 kHz at amplitude %.3f, want 0.5 (volume 100)", a)
	}
	if a := dsp.Goertzel(mid, f, 1500); a > 0.01 {
		t.Errorf("energy at 1.5 kHz: %.3f: not a clean tone", a)
	}
	// Fades at both ends: no sample steps more than a 0.5 sine at 1 kHz can.
	bound := int(math.Ceil(2*math.Pi*1000/float64(f.Rate)*0.5*32767)) + 2
	if s := dsp.MaxStep(pcm, f.Channels); s > bound {
		t.Errorf("a click: sample step %d > %d", s, bound)
	}
	if lvl := dsp.Level(mid); math.Abs(lvl-(-9.03)) > 0.2 {
		t.Errorf("level %.2f dBFS, want -9.03 (a 0.5 sine)", lvl)
	}
}

// interruptSignal stops loaxad as systemd would.
var interruptSignal = os.Interrupt

// readSpeaker returns everything the simulated speaker recorded.
func readSpeaker(t *testing.T, dir string) ([]int16, audio.Format) {
	t.Helper()
	r, err := wav.Open(filepath.Join(dir, "sim", sim.SpeakerFile))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var pcm []int16
	buf := make([]int16, 4800)
	for {
		n, err := r.Read(buf)
		pcm = append(pcm, buf[:n]...)
		if errors.Is(err, io.EOF) {
			return pcm, r.Format()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// waitSpeakerGrows waits until the simulated speaker of the pole in dir has
// played d more audio (its WAV file grows as it plays, in real time).
func waitSpeakerGrows(t *testing.T, dir string, d time.Duration) {
	t.Helper()
	path := filepath.Join(dir, "sim", sim.SpeakerFile)
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	const bytesPerSecond = 48000 * 2 * 2 // the default output format, s16
	want := size() + int64(d.Seconds()*bytesPerSecond)
	deadline := time.Now().Add(2*d + mqtttest.WaitTimeout)
	for size() < want {
		if time.Now().After(deadline) {
			t.Fatalf("the speaker did not play %v of audio", d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestE2EInterruptedFileResumesWithoutGapOrRepeat plays a cached MP3, cuts
// in with an emergency, and checks that the file's audio was heard exactly
// once: as long as the file, no more (a repeat), no less (a gap).
func TestE2EInterruptedFileResumesWithoutGapOrRepeat(t *testing.T) {
	b := mqtttest.Start(t)
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "media"), 0o755)
	mp3 := filepath.Join(dir, "media", "bulletin.mp3")
	audiotest.EncodeFile(t, mp3, append(audiotest.SineInput(3, 44100, 440), "-ac", "2", "-b:a", "128k")...)
	topics := wire.Topics{Root: wire.DefaultRoot, ID: "pole-file"}
	watch := b.Subscribe(t, "loaxa/v1/dev/pole-file/#")
	op := mqtttest.Client(t, b, "operator")
	proc := runLoaxad(t, "--sim", "--broker", b.URL(), "--id", "pole-file", "--data-dir", dir)
	until(t, watch, "online", statusIs(topics.Status(), true, 1))
	isEvent := func(typ, item string) func(mqtttest.Message) bool {
		return func(m mqtttest.Message) bool {
			return m.Topic == topics.Event() && strings.Contains(string(m.Payload), `"type":"`+typ+`"`) && strings.Contains(string(m.Payload), `"item":"`+item+`"`)
		}
	}
	mqtttest.Publish(t, op, topics.Cmd(), 1, false, []byte(`{"id":"f1","cmd":"play","args":{"source":"file:bulletin.mp3","item":"bulletin","volume":100}}`))
	until(t, watch, "bulletin audible", func(m mqtttest.Message) bool {
		return m.Topic == topics.State() && strings.Contains(string(m.Payload), `"item":"bulletin"`) && !strings.Contains(string(m.Payload), `"since":0`)
	})
	waitSpeakerGrows(t, dir, time.Second) // part of the bulletin is heard
	mqtttest.Publish(t, op, topics.Cmd(), 1, false, []byte(`{"id":"e1","cmd":"play","args":{"source":"tone:1000","duration_s":0.5,"priority":"emergency","chime":false}}`))
	untilAll(t, watch, isEvent("play.interrupted", "bulletin"), isEvent("play.end", "e1"))
	end := until(t, watch, "bulletin completed", isEvent("play.end", "bulletin"))
	if !strings.Contains(string(end.Payload), `"reason":"completed"`) {
		t.Fatalf("bulletin ended: %s", end.Payload)
	}
	proc.Process.Signal(interruptSignal)
	proc.Wait()

	pcm, f := readSpeaker(t, dir)
	// Count the 10 ms blocks where 440 Hz dominates: the file's audio.
	block := f.Rate / 100 * f.Channels
	var file int
	for i := 0; i+block <= len(pcm); i += block {
		if dsp.Goertzel(pcm[i:i+block], f, 440) > 0.06 { // ffmpeg's sine is at 1/8 of full scale
			file++
		}
	}
	heard := float64(file) / 100
	// Fades at the cut and the resume blur a block or two at each end.
	if math.Abs(heard-3) > 0.08 {
		t.Errorf("the 3 s bulletin was heard for %.2f s: a gap or a repeat at the resume", heard)
	}
}

// TestE2EPortAudioPath runs loaxad on its real audio path (no --sim):
// PortAudio opens ALSA's default device, which an asoundrc turns into a
// file, and the test listens to the file. The GPIO of this machine is
// missing, so the pole runs degraded, but it plays.
func TestE2EPortAudioPath(t *testing.T) {
	b := mqtttest.Start(t)
	dir := t.TempDir()
	home := t.TempDir()
	raw := filepath.Join(home, "speaker.raw")
	asoundrc := "pcm.!default {\n type file\n slave.pcm \"null\"\n file \"" + raw + "\"\n format \"raw\"\n}\n"
	if err := os.WriteFile(filepath.Join(home, ".asoundrc"), []byte(asoundrc), 0o644); err != nil {
		t.Fatal(err)
	}
	topics := wire.Topics{Root: wire.DefaultRoot, ID: "pole-pa"}
	watch := b.Subscribe(t, "loaxa/v1/dev/pole-pa/#")
	op := mqtttest.Client(t, b, "operator")
	proc := runLoaxadEnv(t, []string{"HOME=" + home}, "--broker", b.URL(), "--id", "pole-pa", "--data-dir", dir)
	until(t, watch, "online", statusIs(topics.Status(), true, 1))
	mqtttest.Publish(t, op, topics.Cmd(), 1, false, []byte(`{"id":"pa1","cmd":"play","args":{"source":"tone:1000","duration_s":1,"volume":100,"chime":false}}`))
	ack := decode[wire.Ack](t, until(t, watch, "ack pa1", ackFor(topics, "pa1")))
	if !ack.OK {
		t.Fatalf("play on the PortAudio path: %+v", ack)
	}
	until(t, watch, "play.end", func(m mqtttest.Message) bool {
		return m.Topic == topics.Event() && strings.Contains(string(m.Payload), `"type":"play.end"`) && strings.Contains(string(m.Payload), `"completed"`)
	})
	proc.Process.Signal(interruptSignal)
	proc.Wait()

	data, err := os.ReadFile(raw)
	if err != nil {
		t.Fatalf("ALSA file device wrote nothing: %v", err)
	}
	f := audio.Format{Rate: 48000, Channels: 2} // the configured output format
	pcm := make([]int16, len(data)/2)
	for i := range pcm {
		pcm[i] = int16(uint16(data[2*i]) | uint16(data[2*i+1])<<8)
	}
	// ALSA's null device takes audio as fast as it comes, so a loaded
	// machine starves the player now and then and it writes silence
	// (as it must for a real-time device). Keep the stretches of sound.
	segs := soundSegments(pcm, 5*f.Rate/1000*f.Channels)
	var heard []int16
	bound := int(math.Ceil(2*math.Pi*1000/float64(f.Rate)*0.5*32767)) + 2
	for _, seg := range segs {
		heard = append(heard, seg...)
		if s := dsp.MaxStep(seg, f.Channels); s > bound {
			t.Errorf("a click on the device: sample step %d > %d", s, bound)
		}
	}
	if secs := float64(len(heard)) / float64(f.Rate*f.Channels); math.Abs(secs-1) > 0.02 {
		t.Errorf("heard %.3f s, want 1 s", secs)
	}
	// The tone's frequency and level, on the longest stretch (the joins
	// between stretches are not continuous).
	var longest []int16
	for _, seg := range segs {
		if len(seg) > len(longest) {
			longest = seg
		}
	}
	if len(longest) < f.Rate/25*f.Channels {
		t.Fatalf("the longest stretch of sound is %d samples: the output is chopped up", len(longest))
	}
	mid := longest[len(longest)/8 : len(longest)*7/8]
	if a := dsp.Goertzel(mid, f, 1000); math.Abs(a-0.5) > 0.02 {
		t.Errorf("1 kHz at amplitude %.3f, want 0.5", a)
	}
}

// soundSegments splits pcm at runs of at least gap zero samples and
// returns the parts between them.
func soundSegments(pcm []int16, gap int) [][]int16 {
	var segs [][]int16
	start, zeros := -1, 0
	for i, v := range pcm {
		if v != 0 {
			if start < 0 {
				start = i
			}
			zeros = 0
			continue
		}
		zeros++
		if start >= 0 && zeros == gap {
			segs = append(segs, pcm[start:i-gap+1])
			start = -1
		}
	}
	if start >= 0 {
		segs = append(segs, audiotest.TrimSilence(pcm[start:], 1))
	}
	return segs
}

// TestE2EStreamFailuresAreReportedAndTheAgentKeepsServing plays a stream
// that does not exist and a live stream whose connection is cut: the
// operator hears of both through events, and the pole goes on answering.
func TestE2EStreamFailuresAreReportedAndTheAgentKeepsServing(t *testing.T) {
	dir := t.TempDir()
	mp3 := filepath.Join(dir, "radio.mp3")
	audiotest.EncodeFile(t, mp3, append(audiotest.SineInput(4, 44100, 440), "-ac", "2", "-b:a", "128k")...)
	data, _ := os.ReadFile(mp3)
	var cuts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/live" {
			http.NotFound(w, r)
			return
		}
		// An Icecast-like live stream (no length): the first connection is
		// cut after a second of audio; later ones carry the whole file, and
		// a live stream that ends is joined again, as radio never ends.
		w.Header().Set("Content-Type", "audio/mpeg")
		w.Header().Set("icy-name", "test radio")
		body := data
		if cuts.Add(1) == 1 {
			body = data[:len(data)/4]
		}
		w.Write(body)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		if len(body) < len(data) {
			panic(http.ErrAbortHandler) // drop the connection mid-stream
		}
	}))
	defer srv.Close()

	b := mqtttest.Start(t)
	topics := wire.Topics{Root: wire.DefaultRoot, ID: "pole-stream"}
	watch := b.Subscribe(t, "loaxa/v1/dev/pole-stream/#")
	op := mqtttest.Client(t, b, "operator")
	runLoaxad(t, "--sim", "--broker", b.URL(), "--id", "pole-stream", "--data-dir", filepath.Join(dir, "data"))
	until(t, watch, "online", statusIs(topics.Status(), true, 1))
	event := func(typ, item string) func(mqtttest.Message) bool {
		return func(m mqtttest.Message) bool {
			return m.Topic == topics.Event() && strings.Contains(string(m.Payload), `"type":"`+typ+`"`) && strings.Contains(string(m.Payload), `"item":"`+item+`"`)
		}
	}

	mqtttest.Publish(t, op, topics.Cmd(), 1, false, []byte(`{"id":"s404","cmd":"play","args":{"source":"`+srv.URL+`/missing.mp3","item":"missing"}}`))
	end := until(t, watch, "missing stream ends", event("play.end", "missing"))
	if !strings.Contains(string(end.Payload), `"reason":"failed"`) || !strings.Contains(string(end.Payload), "404") {
		t.Fatalf("a 404 stream ended with %s", end.Payload)
	}

	mqtttest.Publish(t, op, topics.Cmd(), 1, false, []byte(`{"id":"slive","cmd":"play","args":{"source":"`+srv.URL+`/live","item":"radio"}}`))
	until(t, watch, "reconnecting after the cut", func(m mqtttest.Message) bool {
		return m.Topic == topics.Event() && strings.Contains(string(m.Payload), `"type":"stream.reconnecting"`)
	})
	mqtttest.Publish(t, op, topics.Cmd(), 1, false, []byte(`{"id":"p1","cmd":"ping"}`))
	if ack := decode[wire.Ack](t, until(t, watch, "ping while streaming", ackFor(topics, "p1"))); !ack.OK {
		t.Fatalf("ping %+v", ack)
	}
	until(t, watch, "connected again", func(m mqtttest.Message) bool {
		return m.Topic == topics.Event() && strings.Contains(string(m.Payload), `"type":"stream.connected"`)
	})
	if n := cuts.Load(); n < 2 {
		t.Fatalf("the stream was fetched %d times: no reconnection", n)
	}
	mqtttest.Publish(t, op, topics.Cmd(), 1, false, []byte(`{"id":"sstop","cmd":"stop","args":{"item":"radio"}}`))
	end = until(t, watch, "radio stopped", event("play.end", "radio"))
	if !strings.Contains(string(end.Payload), `"reason":"stopped"`) {
		t.Fatalf("the reconnected stream ended with %s", end.Payload)
	}
}

// TestE2ELiveFromALaptop goes live the way an operator does, with
// `loaxactl live` sending a recording in real time as Opus frames, to a
// pole that was told to play the channel; the speaker must carry it.
func TestE2ELiveFromALaptop(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, "talk.wav")
	mono := audio.Format{Rate: 48000, Channels: 1}
	audiotest.WriteWAV(t, rec, mono, audiotest.Sine(mono, 1000, 0.5, 2*48000))
	b := mqtttest.Start(t)
	topics := wire.Topics{Root: wire.DefaultRoot, ID: "pole-live"}
	watch := b.Subscribe(t, "loaxa/v1/dev/pole-live/#")
	op := mqtttest.Client(t, b, "operator")
	proc := runLoaxad(t, "--sim", "--broker", b.URL(), "--id", "pole-live", "--data-dir", filepath.Join(dir, "data"))
	until(t, watch, "online", statusIs(topics.Status(), true, 1))
	mqtttest.Publish(t, op, topics.Cmd(), 1, false, []byte(`{"id":"l1","cmd":"play","args":{"source":"live:commune-hall","priority":"live","item":"talk","volume":100,"chime":false}}`))
	if ack := decode[wire.Ack](t, until(t, watch, "ack l1", ackFor(topics, "l1"))); !ack.OK {
		t.Fatalf("play live: %+v", ack)
	}
	// Frames sent before the pole's output is up (amplifier warm-up, relays)
	// would find no listener: an operator waits for play.start, so does this.
	until(t, watch, "talk starts", func(m mqtttest.Message) bool {
		return m.Topic == topics.Event() && strings.Contains(string(m.Payload), `"type":"play.start"`)
	})
	ctl, err := testbin.Path("loaxactl")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(ctl, "--broker", b.URL(), "live", "commune-hall", rec).CombinedOutput(); err != nil {
		t.Fatalf("loaxactl live: %v: %s", err, out)
	}
	end := until(t, watch, "talk ends", func(m mqtttest.Message) bool {
		return m.Topic == topics.Event() && strings.Contains(string(m.Payload), `"type":"play.end"`) && strings.Contains(string(m.Payload), `"item":"talk"`)
	})
	if !strings.Contains(string(end.Payload), `"reason":"completed"`) {
		t.Fatalf("the talk ended with %s", end.Payload)
	}
	proc.Process.Signal(interruptSignal)
	proc.Wait()
	pcm, f := readSpeaker(t, filepath.Join(dir, "data"))
	block := f.Rate / 50 * f.Channels // 20 ms, one frame
	var voiced int
	for i := 0; i+block <= len(pcm); i += block {
		if dsp.Goertzel(pcm[i:i+block], f, 1000) > 0.25 {
			voiced++
		}
	}
	// Opus at voice bit rates and the fades blur the edges by a frame or two.
	if secs := float64(voiced) / 50; math.Abs(secs-2) > 0.1 {
		t.Errorf("the 2 s talk was heard for %.2f s", secs)
	}
}
