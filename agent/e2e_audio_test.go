package agent_test

import (
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loaxa/loaxa/agent/mqtttest"
	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/audio/dsp"
	"github.com/loaxa/loaxa/audio/wav"
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
	heard := trimZeros(pcm)
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

func trimZeros(s []int16) []int16 {
	i, j := 0, len(s)
	for i < j && s[i] == 0 {
		i++
	}
	for j > i && s[j-1] == 0 {
		j--
	}
	return s[i:j]
}

// interruptSignal stops loaxad as systemd would.
var interruptSignal = os.Interrupt
