package agent

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/loaxa/loaxa/agent/config"
	"github.com/loaxa/loaxa/agent/ladder"
	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/audio/player"
	"github.com/loaxa/loaxa/internal/clock"
	"github.com/loaxa/loaxa/sim"
)

// BenchmarkPlaybackLog appends 10,000 playback records (the agent's own
// path: record, journal append, log.record event into the outbox) and
// then reads them all back with log.get, 100 a page (the handler, decode
// to answer).
//
//	go test -run '^$' -bench PlaybackLog -benchtime 1x ./agent/
func BenchmarkPlaybackLog(b *testing.B) {
	const n = 10_000
	for range b.N {
		b.StopTimer()
		p := benchPole(b)
		it := &ladder.Item{ID: "bulletin", Source: "https://radio.example.vn/tin.mp3?token=x", Level: ladder.Normal, Zones: []string{"z1", "z2"}}
		b.StartTimer()
		start := time.Now()
		for i := range n {
			it.ID = fmt.Sprintf("b-%05d", i)
			p.logPlay(it, "completed", 48000*2*60, nil)
		}
		appendDur := time.Since(start)
		start = time.Now()
		after, got := uint64(0), 0
		for {
			res, e := p.cmdLogGet(cmdDoc("g", "log.get", fmt.Sprintf(`{"after_seq":%d,"limit":100}`, after)))
			if e != nil {
				b.Fatal(e.Message)
			}
			m := res.(map[string]any)
			got += len(m["records"].([]json.RawMessage))
			after = m["next_after_seq"].(uint64)
			if !m["more"].(bool) {
				break
			}
		}
		getDur := time.Since(start)
		if got != n {
			b.Fatalf("log.get read %d records, want %d", got, n)
		}
		b.ReportMetric(float64(appendDur.Microseconds())/n, "µs/append")
		b.ReportMetric(float64(getDur.Milliseconds()), "ms/log.get-all-10k")
		b.ReportMetric(0, "ns/op")
		p.Close()
	}
}

// benchPole is newPole for a benchmark.
func benchPole(b *testing.B) *testPole {
	dir := b.TempDir()
	cfg := config.Default()
	cfg.ID = "pole-bench"
	cfg.DataDir = dir
	clk := clock.NewFake(t0)
	hw, err := sim.NewHardware("", cfg.Hardware.Layout, clk)
	if err != nil {
		b.Fatal(err)
	}
	pl, _ := player.New(player.Options{Sink: nullSink{}, Clock: clk})
	a, err := New(Options{Config: cfg, ConfigPath: filepath.Join(dir, "loaxa.toml"), Hardware: hw.HAL(), Clock: clk,
		Log: slog.New(slog.DiscardHandler), Version: "bench", Player: pl})
	if err != nil {
		b.Fatal(err)
	}
	return &testPole{Agent: a, sim: hw, clk: clk, dir: dir, cfg: cfg}
}

// cmdDoc is a decoded command document.
func cmdDoc(id, name, args string) *wire.Command {
	return &wire.Command{ID: id, Cmd: name, Args: json.RawMessage(args)}
}
