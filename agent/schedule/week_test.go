package schedule

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loaxa/loaxa/agent/playargs"
	"github.com/loaxa/loaxa/internal/clock"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// commune is a realistic week of a commune: the morning and evening slots
// relay the provincial station every day, the commune's weekly programme
// plays from the cache on Saturday evening, and on Wednesday a provincial
// bulletin overlaps the evening slot.
var commune = `{"version":"2026-w49","tz":"Asia/Ho_Chi_Minh","items":[
 {"id":"sang","days":["mon","tue","wed","thu","fri","sat","sun"],"start":"05:30","end":"06:30",
  "source":"https://radio.example.vn/tinh.mp3","origin":"province","zones":["z1","z2","z3"]},
 {"id":"chieu","days":["mon","tue","wed","thu","fri","sat","sun"],"start":"17:00","duration_s":3600,
  "source":"https://radio.example.vn/tinh.mp3","origin":"province"},
 {"id":"chuong-trinh-tuan","days":["sat"],"start":"19:00","duration_s":1800,"source":"file:tuan-49.mp3",
  "url":"https://media.example.vn/xa/tuan-49.mp3?token=s3cret","sha256":"` + sha + `","origin":"commune","volume":65},
 {"id":"ban-tin-tinh","dates":["2026-12-02"],"start":"17:30:00","end":"17:50:00",
  "source":"file:bt-1202.mp3","url":"https://media.example.vn/tinh/bt-1202.mp3","sha256":"` + strings.Repeat("ab", 32) + `",
  "priority":"priority","origin":"province","chime":true}]}`

func golden(t *testing.T, name string, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it; review the diff):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// TestWeekOfCommune drives a full week with a fake clock, waking only when
// the Tracker says, and checks every decision, its event and what went on
// air minute by minute against a golden file.
func TestWeekOfCommune(t *testing.T) {
	s, err := Parse([]byte(commune), Options{Zones: poleZones})
	if err != nil {
		t.Fatal(err)
	}
	loc := s.Location()
	clk := clock.NewFake(time.Date(2026, 11, 29, 23, 0, 0, 0, loc)) // Sunday night
	end := time.Date(2026, 12, 7, 0, 0, 0, 0, loc)
	tr, err := NewTracker(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	var started []Decision
	wakes := 0
	for {
		now := clk.Now()
		r := tr.Decide(now, ClockSynced)
		for _, d := range r.Decisions {
			typ, data := d.Event(s.Version())
			ev, _ := json.Marshal(data)
			p := d.Play(now)
			fmt.Fprintf(&b, "%s %-15s %s play duration_s=%g until=%s\n  %s\n", now.Format("Mon 2006-01-02 15:04:05"), typ, d.Key(),
				p.DurationS, time.UnixMilli(p.Until).In(loc).Format("15:04:05"), ev)
			if d.Kind != KindMissed {
				started = append(started, d)
			}
		}
		wake, ok := tr.NextWake(now)
		if !ok || !wake.Before(end) {
			break
		}
		wakes++
		clk.Advance(wake.Sub(now))
	}
	b.WriteString("\non air, minute by minute (level, then origin, then earlier start):\n")
	b.WriteString(onAir(started, time.Date(2026, 11, 30, 0, 0, 0, 0, loc), end))
	golden(t, "week.golden", b.String())
	if wakes != 7*2+1+1 {
		t.Errorf("%d wake-ups in the week, want one per start (16)", wakes)
	}
}

// onAir is a model of the priority ladder, enough to show what a listener
// hears: among the open windows, the highest level wins, then the higher
// origin, then the earlier start.
func onAir(started []Decision, from, to time.Time) string {
	rank := func(d Decision) (int, int) {
		lv := slices.Index(playargs.Levels, cmpOr(d.Item.Priority, "normal"))
		return lv, slices.Index(playargs.Origins, d.Item.Origin)
	}
	var b strings.Builder
	cur, since := "", from
	flush := func(at time.Time) {
		if cur != "" {
			fmt.Fprintf(&b, "%s–%s %s\n", since.Format("Mon 15:04"), at.Format("15:04"), cur)
		}
	}
	for m := from; m.Before(to); m = m.Add(time.Minute) {
		best := ""
		bl, bo := -1, -2
		for _, d := range started {
			if !d.Open(m) {
				continue
			}
			if l, o := rank(d); l > bl || l == bl && o > bo {
				best, bl, bo = d.Key(), l, o
			}
		}
		if best != cur {
			flush(m)
			cur, since = best, m
		}
	}
	flush(to)
	return b.String()
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// TestAgentDownAcrossASlot: the agent stops before the morning slot and
// comes back during it (late, with the rest of the window) or after it
// (missed); its state goes through JSON as it would through the disk.
func TestAgentDownAcrossASlot(t *testing.T) {
	s, err := Parse([]byte(commune), Options{})
	if err != nil {
		t.Fatal(err)
	}
	loc := s.Location()
	at := func(h, m int) time.Time { return time.Date(2026, 12, 1, h, m, 0, 0, loc) }
	tests := []struct {
		name   string
		back   time.Time
		want   []string // kind key late_s
		played float64  // duration_s of the late start
	}{
		{"back during the slot", at(5, 40), []string{"late sang:2026-12-01 600"}, 3000},
		{"back within the grace", at(5, 30).Add(3 * time.Second), []string{"start sang:2026-12-01 3"}, 3597},
		{"back after the slot", at(6, 40), []string{"missed sang:2026-12-01 4200"}, 0},
		{"back the next morning", time.Date(2026, 12, 2, 5, 45, 0, 0, loc), []string{
			"missed sang:2026-12-01 87300", "missed chieu:2026-12-01 45900", "late sang:2026-12-02 900"}, 2700},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, _ := NewTracker(s, nil)
			if r := tr.Decide(at(5, 0), ClockSynced); len(r.Decisions) != 0 || !r.Changed {
				t.Fatalf("at 05:00: %+v, want nothing decided and the first state to persist", r)
			}
			data, _ := json.Marshal(tr.State())
			// Down. Back at tt.back:
			var st State
			if err := json.Unmarshal(data, &st); err != nil {
				t.Fatal(err)
			}
			tr, err := NewTracker(s, &st)
			if err != nil {
				t.Fatal(err)
			}
			r := tr.Decide(tt.back, ClockSynced)
			var got []string
			for _, d := range r.Decisions {
				got = append(got, fmt.Sprintf("%s %s %g", d.Kind, d.Key(), d.LateS))
				if d.Kind != KindMissed {
					if p := d.Play(tt.back); p.DurationS != tt.played {
						t.Errorf("%s plays %g s, want %g (the rest of its window)", d.Key(), p.DurationS, tt.played)
					}
				}
			}
			if !slices.Equal(got, tt.want) || !r.Changed {
				t.Errorf("decisions %q (changed %v), want %q", got, r.Changed, tt.want)
			}
			// Each fires once.
			if again := tr.Decide(tt.back.Add(time.Second), ClockSynced); len(again.Decisions) != 0 || again.Changed {
				t.Errorf("a second evaluation decided again: %+v", again)
			}
		})
	}
}
