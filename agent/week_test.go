package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/loaxa/loaxa/agent/config"
	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/audio/player"
	"github.com/loaxa/loaxa/internal/clock"
	"github.com/loaxa/loaxa/internal/mqtttest"
	"github.com/loaxa/loaxa/sim"
)

// tapePlayer stands for the audio player where a week must pass in
// seconds: an item sounds from Play until its duration is used up (or it
// is faded out), and the test's loop hands the agent what a player would
// report, at the fake time it would.
type tapePlayer struct {
	f       audio.Format
	playing *player.Item
	endAt   time.Time // when the playing item's source runs out
	stopAt  time.Time // when a fade-out completes
	muteAt  time.Time
	started time.Time
}

func (p *tapePlayer) Format() audio.Format          { return p.f }
func (p *tapePlayer) Events() <-chan player.Event   { return nil }
func (p *tapePlayer) Run(ctx context.Context) error { <-ctx.Done(); return nil }
func (p *tapePlayer) SetGain(float64)               {}
func (p *tapePlayer) KeepAlive(bool)                {}
func (p *tapePlayer) Level() float64                { return -120 }
func (p *tapePlayer) Underruns() uint64             { return 0 }
func (p *tapePlayer) Unmute(time.Duration)          {}

// weekPole runs an agent with a tape player on a fake clock, by hand.
type weekPole struct {
	*testPole
	tape *tapePlayer
}

func newWeekPole(t *testing.T, start time.Time) *weekPole { return weekPoleIn(t, t.TempDir(), start) }

// weekPoleIn starts the pole on dir (a restart when dir was used before).
func weekPoleIn(t *testing.T, dir string, start time.Time) *weekPole {
	return weekPoleWith(t, dir, start, nil)
}

// weekPoleWith is weekPoleIn with a change of the configuration.
func weekPoleWith(t *testing.T, dir string, start time.Time, edit func(*config.Config)) *weekPole {
	cfg := config.Default()
	cfg.ID = "pole-week"
	cfg.DataDir = dir
	cfg.Audio.Chime = nil
	if edit != nil {
		edit(cfg)
	}
	clk := clock.NewFake(start)
	hw, err := sim.NewHardware(filepath.Join(dir, "sim"), cfg.Hardware.Layout, clk)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hw.Close() })
	tape := &tapePlayer{f: outFormat}
	a, err := New(Options{Config: cfg, ConfigPath: filepath.Join(dir, "loaxa.toml"), Hardware: hw.HAL(), Clock: clk,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "test", Player: &tapeShim{tape, clk}, OpenSource: toneOpener})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	a.sch.clock = "synced" // the sim's clock is synchronised
	return &weekPole{testPole: &testPole{Agent: a, sim: hw, clk: clk, dir: dir, cfg: cfg}, tape: tape}
}

// tapeShim records the agent's player requests on the tape at the fake
// time they are made.
type tapeShim struct {
	*tapePlayer
	clk *clock.Fake
}

func (s *tapeShim) Play(it player.Item) {
	s.playing = &it
	s.started = s.clk.Now()
	s.endAt, s.stopAt = time.Time{}, time.Time{}
}

func (s *tapeShim) Stop(id string, fade time.Duration) {
	if s.playing != nil && s.playing.ID == id {
		s.stopAt = s.clk.Now().Add(fade)
	}
}

func (s *tapeShim) Mute(fade time.Duration) { s.muteAt = s.clk.Now().Add(fade) }

// run lets the fake time pass until end, carrying out every timer and
// every player report when it falls due.
func (p *weekPole) run(t *testing.T, end time.Time) {
	samplesPerSec := float64(outFormat.Rate * outFormat.Channels)
	for steps := 0; ; steps++ {
		if steps > 1_000_000 {
			t.Fatal("the week does not end: a loop in the agent?")
		}
		tape := p.tape
		// A newly played item: Started now, its source lasts its duration.
		if tape.playing != nil && tape.endAt.IsZero() {
			it := p.seq.Item()
			if it == nil || it.ID != tape.playing.ID {
				t.Fatalf("the player plays %s, the sequencer has %v", tape.playing.ID, it)
			}
			p.playerEvent(player.Event{Kind: player.Started, ID: it.ID, At: p.clk.Now()})
			left := it.Duration - time.Duration(float64(it.Played)/samplesPerSec*float64(time.Second))
			if it.Duration == 0 {
				left = 24 * time.Hour
			}
			if !it.EndBy.IsZero() {
				left = min(left, it.EndBy.Sub(p.clk.Now())) // as startPlayer's limit
			}
			tape.endAt = p.clk.Now().Add(max(left, 0))
		}
		next := end
		cands := []time.Time{}
		if tape.playing != nil {
			cands = append(cands, tape.endAt)
			if !tape.stopAt.IsZero() {
				cands = append(cands, tape.stopAt)
			}
			if !tape.muteAt.IsZero() {
				cands = append(cands, tape.muteAt)
			}
		}
		for _, c := range cands {
			if c.Before(next) {
				next = c
			}
		}
		// Timers of the agent: advance in small steps until one fires or
		// the next tape event is due.
		fired := false
		for !fired && p.clk.Now().Before(next) {
			step := min(next.Sub(p.clk.Now()), time.Second)
			p.clk.Advance(step)
			select {
			case <-p.seqC:
				p.seqFired()
				fired = true
			case <-p.holdC:
				p.holdExpired()
				fired = true
			case <-p.sch.c:
				p.scheduleDecide()
				fired = true
			default:
			}
		}
		if fired {
			continue
		}
		now := p.clk.Now()
		switch {
		case tape.playing == nil && !now.Before(end):
			return
		case tape.playing != nil && !tape.stopAt.IsZero() && !now.Before(tape.stopAt):
			id, played := tape.playing.ID, int64(now.Sub(tape.started).Seconds()*samplesPerSec)
			tape.playing = nil
			p.playerEvent(player.Event{Kind: player.Stopped, ID: id, At: now, Played: played})
		case tape.playing != nil && !tape.muteAt.IsZero() && !now.Before(tape.muteAt):
			tape.muteAt = time.Time{}
			p.playerEvent(player.Event{Kind: player.Silent, ID: tape.playing.ID, At: now})
		case tape.playing != nil && !now.Before(tape.endAt):
			id, played := tape.playing.ID, int64(now.Sub(tape.started).Seconds()*samplesPerSec)
			tape.playing = nil
			p.playerEvent(player.Event{Kind: player.Ended, ID: id, At: now, Played: played})
		case !now.Before(end):
			return
		}
	}
}

// A realistic commune week on a fake clock: two daily slots (05:30 news,
// 17:00 programme), a weekly Sunday programme, and a provincial bulletin
// that cuts into Wednesday's 17:00 slot. The playback log says, minute for
// minute, what should have played.
func TestAWeekOfTheScheduleIsLoggedMinuteForMinute(t *testing.T) {
	vn := time.FixedZone("ICT", 7*3600)
	monday := time.Date(2026, 11, 30, 0, 0, 0, 0, vn) // a Monday
	p := newWeekPole(t, monday)
	doc := `{"version":"2026-w49","items":[
		{"id":"sang","days":["mon","tue","wed","thu","fri","sat","sun"],"start":"05:30","duration_s":1800,"source":"tone:440"},
		{"id":"chieu","days":["mon","tue","wed","thu","fri","sat","sun"],"start":"17:00","end":"18:00","source":"tone:550"},
		{"id":"chu-nhat","days":["sun"],"start":"09:00","duration_s":3600,"source":"tone:660","priority":"normal"},
		{"id":"tinh","dates":["2026-12-02"],"start":"17:30","end":"17:45","source":"tone:880","priority":"priority","origin":"province"}]}`
	if ack, _ := p.send(t, cmd("s1", "schedule.set", doc)); !ack.OK {
		t.Fatalf("schedule.set: %s", ack.raw)
	}
	p.run(t, monday.AddDate(0, 0, 7))

	// The log, read back through log.get, page by page.
	var got []string
	after := uint64(0)
	for {
		ack, _ := p.send(t, cmd(fmt.Sprintf("l%d", after), "log.get", fmt.Sprintf(`{"after_seq":%d,"limit":7}`, after)))
		var res struct {
			Records      []wire.LogRecord `json:"records"`
			More         bool             `json:"more"`
			NextAfterSeq uint64           `json:"next_after_seq"`
		}
		if err := json.Unmarshal(ack.Result, &res); err != nil || !ack.OK {
			t.Fatalf("log.get: %s", ack.raw)
		}
		for _, r := range res.Records {
			start := time.UnixMilli(r.Start).In(vn).Format("Mon 15:04")
			end := time.UnixMilli(r.End).In(vn).Format("15:04")
			line := fmt.Sprintf("%s-%s %s %s %.0fmin", start, end, r.Item, r.Result, r.HeardS/60)
			if r.InterruptedBy != "" {
				line += " by " + r.InterruptedBy
			}
			got = append(got, line)
		}
		after = res.NextAfterSeq
		if !res.More {
			break
		}
	}
	var want []string
	for d := range 7 {
		day := monday.AddDate(0, 0, d)
		date := day.Format("2006-01-02")
		wd := day.Format("Mon")
		want = append(want, fmt.Sprintf("%s 05:30-06:00 sang:%s completed 30min", wd, date))
		if wd == "Sun" {
			want = append(want, fmt.Sprintf("Sun 09:00-10:00 chu-nhat:%s completed 60min", date))
		}
		if wd == "Wed" {
			want = append(want,
				fmt.Sprintf("Wed 17:00-17:30 chieu:%s interrupted 30min by tinh:%s", date, date),
				fmt.Sprintf("Wed 17:30-17:45 tinh:%s completed 15min", date),
				fmt.Sprintf("Wed 17:45-18:00 chieu:%s completed 15min", date))
			continue
		}
		want = append(want, fmt.Sprintf("%s 17:00-18:00 chieu:%s completed 60min", wd, date))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("the week's log:\n%s\n\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Three simulated days with the broker away, the agent killed twice on the
// way (once in the middle of a slot), then the broker back: every playback
// record arrives, in seq order, with no gap.
func TestThreeDaysOfflineWithKillsDeliverTheWholeLog(t *testing.T) {
	vn := time.FixedZone("ICT", 7*3600)
	monday := time.Date(2026, 11, 30, 0, 0, 0, 0, vn)
	dir := t.TempDir()
	p := weekPoleIn(t, dir, monday)
	doc := `{"version":"3d","items":[
		{"id":"sang","days":["mon","tue","wed","thu","fri","sat","sun"],"start":"05:30","duration_s":1800,"source":"tone:440"},
		{"id":"chieu","days":["mon","tue","wed","thu","fri","sat","sun"],"start":"17:00","end":"18:00","source":"tone:550"}]}`
	if ack, _ := p.send(t, cmd("s1", "schedule.set", doc)); !ack.OK {
		t.Fatalf("schedule.set: %s", ack.raw)
	}
	// Killed after a day (a SIGKILL runs no shutdown: only what was
	// appended is there, as here), and again in the middle of Tuesday's
	// evening slot.
	p.run(t, monday.AddDate(0, 0, 1).Add(3*time.Hour))
	p.Close()
	p = weekPoleIn(t, dir, p.clk.Now())
	p.scheduleDecide()
	p.run(t, monday.AddDate(0, 0, 1).Add(17*time.Hour+20*time.Minute))
	p.Close()
	p = weekPoleIn(t, dir, p.clk.Now())
	p.scheduleDecide() // restarts the slot, late
	p.run(t, monday.AddDate(0, 0, 3))
	last := p.store.playlog.Next() - 1
	p.Close()
	// 2 slots a day, and the run the second kill cut short, logged at
	// the next start.
	if last != 7 {
		t.Fatalf("%d records in three days, want 7", last)
	}

	// The broker is back: a real agent delivers the outbox.
	b := mqtttest.Start(t)
	var got []uint64
	done := make(chan struct{})
	cl := mqtttest.Connect(t, mqtttest.ClientOptions(b, "log-watch").SetOrderMatters(true))
	mqtttest.Wait(t, cl.Subscribe("loaxa/v1/dev/pole-week/event", 1, func(_ mqtt.Client, m mqtt.Message) {
		var ev wire.Event
		if json.Unmarshal(m.Payload(), &ev) != nil || ev.Type != "log.record" {
			return
		}
		seq := uint64(ev.Data["seq"].(float64))
		if len(got) > 0 && seq <= got[len(got)-1] {
			return // a QoS 1 duplicate
		}
		got = append(got, seq)
		if seq == last {
			close(done)
		}
	}), "subscribe")
	cfg := config.Default()
	cfg.ID, cfg.DataDir, cfg.MQTT.Broker = "pole-week", dir, b.URL()
	hw, err := sim.NewHardware("", cfg.Hardware.Layout, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{Config: cfg, ConfigPath: filepath.Join(dir, "loaxa.toml"), Hardware: hw.HAL(),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { a.Run(ctx); close(stopped) }()
	defer func() { cancel(); <-stopped }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatalf("records delivered: %v, want 1..%d", got, last)
	}
	for i, seq := range got {
		if seq != uint64(i+1) {
			t.Fatalf("records arrived as %v: a gap or a disorder at %d", got, i)
		}
	}
}

// Two gaps of the playback log (found by the docs review): a missed
// occurrence of an item that names no zones was logged with "zones":null,
// though it would have played on all; and a fallback file that played in
// place of a missing one was logged as if the schedule had named it.
func TestMissedAndFallbackRecordsSayWhatTheScheduleMeant(t *testing.T) {
	vn := time.FixedZone("ICT", 7*3600)
	monday := time.Date(2026, 11, 30, 0, 0, 0, 0, vn)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "media"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "media", "330.mp3"), []byte("fallback"), 0o644); err != nil {
		t.Fatal(err)
	}
	edit := func(c *config.Config) { c.Media.Fallback = "330.mp3" }
	p := weekPoleWith(t, dir, monday, edit)
	doc := `{"version":"gaps","items":[
		{"id":"sang","days":["mon"],"start":"05:30","duration_s":600,"source":"tone:440"},
		{"id":"ban-tin","days":["mon"],"start":"08:00","duration_s":600,"source":"file:440.mp3","zones":["z2"]}]}`
	if ack, _ := p.send(t, cmd("s1", "schedule.set", doc)); !ack.OK {
		t.Fatalf("schedule.set: %s", ack.raw)
	}
	p.run(t, monday.Add(5*time.Hour))
	p.Close() // down over the 05:30 slot
	p = weekPoleWith(t, dir, monday.Add(7*time.Hour), edit)
	p.scheduleDecide()
	p.run(t, monday.Add(9*time.Hour))

	var res struct {
		Records []wire.LogRecord `json:"records"`
	}
	ack, _ := p.send(t, cmd("l", "log.get", `{"after_seq":0}`))
	if err := json.Unmarshal(ack.Result, &res); err != nil || len(res.Records) != 2 {
		t.Fatalf("log.get: %s", ack.raw)
	}
	missed, fb := res.Records[0], res.Records[1]
	if missed.Result != "missed" || strings.Join(missed.Zones, ",") != "z1,z2,z3,z4" {
		t.Errorf("missed record: result %s zones %v, want missed on z1,z2,z3,z4", missed.Result, missed.Zones)
	}
	if fb.Result != "completed" || fb.Source != "file:330.mp3" || fb.Instead != "file:440.mp3" || strings.Join(fb.Zones, ",") != "z2" {
		t.Errorf("fallback record: %+v, want file:330.mp3 instead of file:440.mp3 on z2", fb)
	}
}
