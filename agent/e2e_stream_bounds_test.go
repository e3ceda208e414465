package agent_test

import (
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loaxa/loaxa/agent/config"
	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/internal/mqtttest"
	"github.com/loaxa/loaxa/internal/testenv"
)

// streamEvent matches an event of type typ about item.
func streamEvent(topics wire.Topics, typ, item string) func(mqtttest.Message) bool {
	return func(m mqtttest.Message) bool {
		if m.Topic != topics.Event() {
			return false
		}
		var ev wire.Event
		return json.Unmarshal(m.Payload, &ev) == nil && ev.Type == typ && ev.Data["item"] == item
	}
}

// Issue 7, finding 8, through the real agent and the real source opener:
// random bytes from an HTTP source end the item failed with a
// stream.failed that says why, and a source that trickles a byte every
// half second is cut and ends the item within a bound instead of keeping
// the amplifier on for hours.
func TestE2EBadStreamsEndWithStreamFailed(t *testing.T) {
	ffmpeg := testenv.NeedTool(t, "ffmpeg", "ffmpeg")
	mp3 := filepath.Join(t.TempDir(), "talk.mp3")
	if out, err := exec.Command(ffmpeg, "-loglevel", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=30:sample_rate=44100",
		"-ac", "1", "-b:a", "32k", mp3).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	talk, err := os.ReadFile(mp3)
	if err != nil {
		t.Fatal(err)
	}
	noise := make([]byte, 512<<10)
	rnd := rand.New(rand.NewPCG(7, 8))
	for i := range noise {
		noise[i] = byte(rnd.Uint32())
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/mpeg")
		switch r.URL.Path {
		case "/noise":
			w.Write(noise)
		case "/trickle":
			f := w.(http.Flusher)
			for _, b := range talk {
				if _, err := w.Write([]byte{b}); err != nil {
					return
				}
				f.Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(500 * time.Millisecond):
				}
			}
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	b := mqtttest.Start(t)
	id := "pole-bad-streams"
	topics := wire.Topics{Root: wire.DefaultRoot, ID: id}
	watch := b.Subscribe(t, "loaxa/v1/dev/"+id+"/#")
	op := mqtttest.Client(t, b, "operator")
	startPoleWith(t, b, id, t.TempDir(), poleOptions{audio: simAudio(t), edit: func(c *config.Config) {
		c.Audio.Chime = nil
		c.Audio.AmpHoldS = 1
		// The byte-rate bound is measured over the stall timeout: a
		// second here, so that the test is short.
		c.Audio.StreamStallS = 1
	}})
	until(t, watch, "online", statusIs(topics.Status(), true, 0))

	tests := []struct {
		item, path, reason string
	}{
		{"noise", "/noise", "no_audio"},
		{"trickle", "/trickle", "too_slow"},
	}
	for _, tt := range tests {
		t.Run(tt.item, func(t *testing.T) {
			mqtttest.Publish(t, op, topics.Cmd(), 1, false, []byte(`{"id":"`+tt.item+`","cmd":"play","args":{"source":"`+srv.URL+tt.path+`","item":"`+tt.item+`"}}`))
			// until's own timeout (20 s) is the bound: today the trickle
			// plays for hours.
			got := untilAll(t, watch, streamEvent(topics, "stream.failed", tt.item), streamEvent(topics, "play.end", tt.item))
			failed, end := decode[wire.Event](t, got[0]), decode[wire.Event](t, got[1])
			if failed.Data["reason"] != tt.reason || !strings.Contains(failed.Data["url"].(string), tt.path) {
				t.Errorf("stream.failed %s, want reason %q", got[0].Payload, tt.reason)
			}
			if end.Data["reason"] != "failed" || end.Data["error"] != failed.Data["error"] {
				t.Errorf("play.end %s, want reason failed with the stream's error %q", got[1].Payload, failed.Data["error"])
			}
			until(t, watch, "amplifier off", func(m mqtttest.Message) bool {
				return m.Topic == topics.State() && strings.Contains(string(m.Payload), `"amp":{"power":false}`) && strings.Contains(string(m.Payload), `"playing":null`)
			})
		})
	}
}
