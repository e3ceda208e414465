package agent_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/internal/audiotest"
	"github.com/loaxa/loaxa/internal/mqtttest"
)

// Issue 7, finding 7, the real thing: loaxad plays through PortAudio on
// JACK's dummy driver and the JACK server is stopped mid-play. PortAudio's
// blocking write then never returned; the Sink's own queue now fails the
// write after 2 s without a sample taken, and PortAudio cannot open the
// device again in the process. Either way the agent must go on answering,
// raise the audio.device alarm, fail the item, and still stop on SIGTERM.
func TestE2EStoppedJACKServerDoesNotHangTheAgent(t *testing.T) {
	j := audiotest.StartJACK(t, 2048)
	b := mqtttest.Start(t)
	dir := t.TempDir()
	id := "pole-jack"
	cfg := filepath.Join(dir, "loaxa.toml")
	toml := fmt.Sprintf("id = %q\n[mqtt]\nbroker = %q\n[audio]\ndevice = \"system\"\nchime = []\namp_hold_s = 1\n", id, b.URL())
	if err := os.WriteFile(cfg, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	topics := wire.Topics{Root: wire.DefaultRoot, ID: id}
	watch := b.Subscribe(t, "loaxa/v1/dev/"+id+"/#")
	op := mqtttest.Client(t, b, "operator")
	// HOME: no asoundrc of the machine's user changes what PortAudio sees.
	proc := runLoaxadEnv(t, []string{j.Env(), "HOME=" + t.TempDir()}, "--config", cfg, "--data-dir", dir)
	until(t, watch, "online", statusIs(topics.Status(), true, 1))
	isEvent := func(typ, key, val string) func(mqtttest.Message) bool {
		return func(m mqtttest.Message) bool {
			return m.Topic == topics.Event() && strings.Contains(string(m.Payload), `"type":"`+typ+`"`) &&
				strings.Contains(string(m.Payload), fmt.Sprintf("%q:%q", key, val))
		}
	}
	mqtttest.Publish(t, op, topics.Cmd(), 1, false, []byte(`{"id":"j1","cmd":"play","args":{"source":"tone:440","item":"talk","duration_s":600}}`))
	// Mid-play: the item is on air. (Waiting for it to be audible would
	// make the test depend on the machine's load: a JACK client that
	// misses its cycles is dropped by jackd, and then the device fails
	// before the server is stopped, which the assertions below cover too.)
	started := untilAll(t, watch, ackFor(topics, "j1"), isEvent("play.start", "item", "talk"))
	if ack := decode[wire.Ack](t, started[0]); !ack.OK {
		t.Fatalf("play on the JACK device: %+v (is the device missing?)", ack)
	}
	j.Stop()

	// The device fails within its deadline; the agent says so and ends the item.
	got := untilAll(t, watch, isEvent("alarm", "name", "audio.device"), isEvent("play.end", "item", "talk"))
	if !strings.Contains(string(got[1].Payload), `"reason":"failed"`) {
		t.Errorf("the item ended with %s, want reason failed", got[1].Payload)
	}
	mqtttest.Publish(t, op, topics.Cmd(), 1, false, []byte(`{"id":"p1","cmd":"ping"}`))
	if ack := decode[wire.Ack](t, until(t, watch, "ping after the device died", ackFor(topics, "p1"))); !ack.OK {
		t.Fatalf("ping: %+v", ack)
	}
	// Another item fails too, rather than hang.
	mqtttest.Publish(t, op, topics.Cmd(), 1, false, []byte(`{"id":"j2","cmd":"play","args":{"source":"tone:440","item":"again","duration_s":600}}`))
	until(t, watch, "again ends", isEvent("play.end", "item", "again"))

	sent := time.Now()
	err, stopped := terminate(proc)
	if !stopped {
		t.Fatal("loaxad did not end within 10 s of SIGTERM")
	}
	if err != nil {
		t.Errorf("loaxad exited with %v", err)
	}
	t.Logf("loaxad ended %v after SIGTERM", time.Since(sent).Round(time.Millisecond))
}
