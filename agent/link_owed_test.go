package agent

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/loaxa/loaxa/agent/config"
	"github.com/loaxa/loaxa/internal/clock"
	"github.com/loaxa/loaxa/internal/mqtttest"
)

// A command dropped because the inbound queue was full is owed: the link
// reconnects once the agent has caught up, so the broker delivers it
// again. The session looks for that only while something is owed (a
// ticker for the life of every connection woke every pole each second),
// so each way of becoming owed must still lead to the reconnection:
// during a session, before the link first connects, and again in a later
// session.
func TestLinkReconnectsForAnOwedCommand(t *testing.T) {
	for _, before := range []bool{false, true} {
		name := "owed_during_a_session"
		if before {
			name = "owed_before_the_first_session"
		}
		t.Run(name, func(t *testing.T) {
			br := mqtttest.Start(t)
			cfg := config.Default()
			cfg.ID = "pole-owed"
			cfg.DataDir = t.TempDir()
			cfg.MQTT.Broker = br.URL()
			l := NewLink(LinkConfigFrom(cfg, "test"), clock.Real{}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
			if before {
				l.dropInbound(Inbound{Topic: "x"})
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); l.Run(ctx) }()
			defer func() { cancel(); <-done }()
			ups := 0
			deadline := time.After(20 * time.Second)
			waitUps := func(n int) {
				t.Helper()
				for ups < n {
					select {
					case ev := <-l.Events():
						if ev.Kind == LinkUp {
							ups++
						}
					case <-deadline:
						t.Fatalf("%d sessions, want %d: the owed command was not asked for again (owed=%v)", ups, n, l.owed.Load())
					}
				}
			}
			waitUps(1)
			if !before {
				l.dropInbound(Inbound{Topic: "x"})
			}
			waitUps(2)
			if l.owed.Load() {
				t.Fatal("still owed after the reconnection")
			}
			l.dropInbound(Inbound{Topic: "y"}) // owed again, in the second session
			waitUps(3)
		})
	}
}
