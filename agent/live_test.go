package agent

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loaxa/loaxa/agent/config"
	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/audio/player"
	"github.com/loaxa/loaxa/internal/clock"
	"github.com/loaxa/loaxa/sim"
)

// openLog records the requests an opener got.
type openLog struct {
	mu   sync.Mutex // guards reqs
	reqs []SourceRequest
}

func (o *openLog) open(ctx context.Context, req SourceRequest) (audio.Source, error) {
	o.mu.Lock()
	o.reqs = append(o.reqs, req)
	o.mu.Unlock()
	return toneOpener(ctx, SourceRequest{Source: "tone:440", Format: req.Format})
}

func (o *openLog) all() []SourceRequest {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]SourceRequest(nil), o.reqs...)
}

// livePole is handPole with a recording opener and the simulated clock
// file set to clk ("" leaves it synchronised).
func livePole(t *testing.T, clk string, edit func(*config.Config)) (*testPole, *openLog) {
	dir := t.TempDir()
	cfg := config.Default()
	cfg.ID = "pole-live"
	cfg.DataDir = dir
	if edit != nil {
		edit(cfg)
	}
	if clk != "" {
		os.MkdirAll(filepath.Join(dir, "sim"), 0o755)
		os.WriteFile(filepath.Join(dir, "sim", sim.ClockFile), []byte(clk), 0o644)
	}
	fc := clock.NewFake(t0)
	hw, err := sim.NewHardware(filepath.Join(dir, "sim"), cfg.Hardware.Layout, fc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hw.Close() })
	pl, _ := player.New(player.Options{Sink: nullSink{}, Clock: fc})
	ol := &openLog{}
	a, err := New(Options{Config: cfg, ConfigPath: filepath.Join(dir, "loaxa.toml"), Hardware: hw.HAL(), Clock: fc,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "test", Player: pl, OpenSource: ol.open})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for id := range a.live {
			a.releaseLive(id)
		}
		a.Close()
	})
	return &testPole{Agent: a, sim: hw, clk: fc, dir: dir, cfg: cfg}, ol
}

// A live item's jitter buffer opens when the play is accepted, before the
// amplifier has warmed up, with a backlog as long as the start sequence.
func TestLiveSourceOpensWhenThePlayIsAccepted(t *testing.T) {
	p, ol := livePole(t, "", nil)
	ack, _ := p.send(t, playCmd("l1", `{"source":"live:hall","priority":"live"}`))
	if !ack.OK {
		t.Fatalf("play: %s", ack.raw)
	}
	reqs := ol.all()
	if len(reqs) != 1 || reqs[0].Source != "live:hall" {
		t.Fatalf("opened %+v at the ack, want live:hall", reqs)
	}
	want := time.Duration(500+50+2*30+40+1000) * time.Millisecond
	if reqs[0].Backlog != want || reqs[0].Sync != 0 {
		t.Errorf("request backlog %v sync %v, want %v and no sync", reqs[0].Backlog, reqs[0].Sync, want)
	}
}

func TestLiveSyncRequest(t *testing.T) {
	tests := []struct {
		name     string
		clock    string
		channels []string
		args     string
		wantSync time.Duration
		// wantEvent is in the live.sync event ("" when none is expected).
		wantEvent string
		wantState string
	}{
		{"asked, clock synced", "", nil, `"sync":true`, 400 * time.Millisecond, `"sync":true`, `"sync":{"on":true,"delay_ms":400}`},
		{"asked, clock unsynced", "unsynced", nil, `"sync":true`, 0, `"reason":"clock_unsynced"`, `"sync":{"on":false,"reason":"clock_unsynced"}`},
		{"channel default", "", []string{"hall"}, `"priority":"live"`, 400 * time.Millisecond, `"sync":true`, `"on":true`},
		{"channel default, refused by the play", "", []string{"hall"}, `"sync":false`, 0, "", ""},
		{"not asked", "", nil, `"priority":"live"`, 0, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ol := livePole(t, tt.clock, func(c *config.Config) { c.Audio.SyncChannels = tt.channels })
			ack, msgs := p.send(t, playCmd("l1", `{"source":"live:hall",`+tt.args+`}`))
			if !ack.OK {
				t.Fatalf("play: %s", ack.raw)
			}
			if reqs := ol.all(); len(reqs) != 1 || reqs[0].Sync != tt.wantSync {
				t.Fatalf("requests %+v, want one with sync %v", reqs, tt.wantSync)
			}
			var event, state string
			for _, m := range msgs {
				switch {
				case m.Topic == p.topics.Event() && strings.Contains(string(m.Payload), `"type":"live.sync"`):
					event = string(m.Payload)
				case m.Topic == p.topics.State():
					state = string(m.Payload)
				}
			}
			if tt.wantEvent == "" && event != "" || !strings.Contains(event, tt.wantEvent) {
				t.Errorf("live.sync event %q, want one with %q", event, tt.wantEvent)
			}
			if tt.wantState == "" && strings.Contains(state, `"sync"`) || !strings.Contains(state, tt.wantState) {
				t.Errorf("state %s, want %q", state, tt.wantState)
			}
		})
	}
}

func TestSyncIsForLiveSourcesOnly(t *testing.T) {
	p, ol := livePole(t, "", nil)
	ack, _ := p.send(t, playCmd("t1", `{"source":"tone:440","sync":true}`))
	if ack.code() != "bad_args" || !strings.Contains(ack.raw, "live:CHANNEL sources only") {
		t.Fatalf("sync on a tone: %s", ack.raw)
	}
	if len(ol.all()) != 0 {
		t.Error("a refused play opened a source")
	}
}

// A live item stopped while it waits closes its source: nothing keeps
// buffering a channel nobody plays.
func TestLiveSourceClosedWhenTheItemEnds(t *testing.T) {
	p, _ := livePole(t, "", nil)
	p.send(t, playCmd("l1", `{"source":"live:hall","priority":"live","item":"talk"}`))
	if len(p.live) != 1 {
		t.Fatalf("%d live sources open, want 1", len(p.live))
	}
	p.send(t, `{"id":"s1","cmd":"stop","args":{"item":"talk"}}`)
	if len(p.live) != 0 {
		t.Fatalf("%d live sources open after the stop, want 0", len(p.live))
	}
}
