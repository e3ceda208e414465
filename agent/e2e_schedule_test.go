package agent_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/internal/audiotest"
	"github.com/loaxa/loaxa/internal/mqtttest"
	"github.com/loaxa/loaxa/sim"
)

// The schedule through the real binary: while the sim's clock is not
// synchronised nothing scheduled plays (and the state says why); once it
// is, the item starts late in its open window, from a file fetched into
// the cache with media.fetch, and its playback record arrives and is in
// log.get.
func TestE2EScheduleWaitsForTheClockAndLogsWhatPlayed(t *testing.T) {
	mp3 := audiotest.Encode(t, "bulletin.mp3", append(audiotest.SineInput(2, 44100, 440), "-ac", "2", "-b:a", "128k")...)
	sum := sha256.Sum256(mp3)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/mpeg")
		w.Write(mp3)
	}))
	defer srv.Close()

	b := mqtttest.Start(t)
	dir := t.TempDir()
	topics := wire.Topics{Root: wire.DefaultRoot, ID: "pole-sched"}
	watch := b.Subscribe(t, "loaxa/v1/dev/pole-sched/#")
	op := mqtttest.Client(t, b, "operator")
	os.MkdirAll(filepath.Join(dir, "sim"), 0o755)
	if err := os.WriteFile(filepath.Join(dir, "sim", sim.ClockFile), []byte("unsynced\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	runLoaxad(t, "--sim", "--broker", b.URL(), "--id", "pole-sched", "--data-dir", dir)
	until(t, watch, "online", statusIs(topics.Status(), true, 1))

	mqtttest.Publish(t, op, topics.Cmd(), 1, false, []byte(fmt.Sprintf(`{"id":"f1","cmd":"media.fetch","args":{"url":%q,"sha256":%q,"name":"bulletin.mp3"}}`,
		srv.URL+"/bulletin.mp3", hex.EncodeToString(sum[:]))))
	if ack := decode[wire.Ack](t, until(t, watch, "ack f1", ackFor(topics, "f1"))); !ack.OK {
		t.Fatalf("media.fetch: %+v", ack)
	}
	until(t, watch, "media.fetched", func(m mqtttest.Message) bool {
		return m.Topic == topics.Event() && strings.Contains(string(m.Payload), `"type":"media.fetched"`)
	})

	// An item whose window opened a minute ago and lasts ten.
	vn := time.FixedZone("ICT", 7*3600)
	start := time.Now().In(vn).Add(-time.Minute)
	doc := fmt.Sprintf(`{"version":"e2e","items":[{"id":"tin","dates":[%q],"start":%q,"duration_s":600,"source":"file:bulletin.mp3"}]}`,
		start.Format("2006-01-02"), start.Format("15:04:05"))
	mqtttest.Publish(t, op, topics.Cmd(), 1, false, []byte(`{"id":"s1","cmd":"schedule.set","args":`+doc+`}`))
	got := untilAll(t, watch, ackFor(topics, "s1"), func(m mqtttest.Message) bool {
		return m.Topic == topics.State() && strings.Contains(string(m.Payload), `"version":"e2e"`)
	})
	if ack := decode[wire.Ack](t, got[0]); !ack.OK {
		t.Fatalf("schedule.set: %+v", ack)
	}
	st := decode[wire.State](t, got[1])
	if st.Schedule.Clock != "unsynced" || st.Playing != nil {
		t.Fatalf("with the clock unsynchronised: schedule %+v, playing %+v", st.Schedule, st.Playing)
	}

	// The clock synchronises: the item starts late, in its window.
	if err := os.WriteFile(filepath.Join(dir, "sim", sim.ClockFile), []byte("synced\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	late := until(t, watch, "schedule.late", func(m mqtttest.Message) bool {
		return m.Topic == topics.Event() && strings.Contains(string(m.Payload), `"type":"schedule.late"`)
	})
	if !strings.Contains(string(late.Payload), `"schedule_item":"tin"`) {
		t.Fatalf("schedule.late: %s", late.Payload)
	}
	rec := until(t, watch, "the log record", func(m mqtttest.Message) bool {
		return m.Topic == topics.Event() && strings.Contains(string(m.Payload), `"type":"log.record"`)
	})
	if !strings.Contains(string(rec.Payload), `"result":"completed"`) || !strings.Contains(string(rec.Payload), `"schedule_item":"tin"`) {
		t.Fatalf("log record: %s", rec.Payload)
	}
	mqtttest.Publish(t, op, topics.Cmd(), 1, false, []byte(`{"id":"g1","cmd":"log.get","args":{"limit":10}}`))
	lg := until(t, watch, "ack g1", ackFor(topics, "g1"))
	if !strings.Contains(string(lg.Payload), `"schedule_item":"tin"`) {
		t.Fatalf("log.get: %s", lg.Payload)
	}
}
