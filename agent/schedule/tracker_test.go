package schedule

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestClockGate(t *testing.T) {
	build := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		kernel bool
		now    time.Time
		want   ClockStatus
	}{
		{"synced", true, build.AddDate(0, 1, 0), ClockSynced},
		{"kernel says unsynced", false, build.AddDate(0, 1, 0), ClockUnsynced},
		{"synced but before the build (a board without RTC)", true, time.Unix(0, 0), ClockUnsynced},
		{"no build time known", true, time.Unix(0, 0), ClockSynced},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nb := build
			if strings.HasPrefix(tt.name, "no build") {
				nb = time.Time{}
			}
			if got := ClockGate(tt.kernel, tt.now, nb); got != tt.want {
				t.Errorf("ClockGate = %s, want %s", got, tt.want)
			}
		})
	}
}

func kinds(r Result) []string {
	var out []string
	for _, d := range r.Decisions {
		s := fmt.Sprintf("%s %s %g", d.Kind, d.Key(), d.LateS)
		if d.Restarted {
			s += " restarted"
		}
		out = append(out, s)
	}
	return out
}

func expect(t *testing.T, what string, r Result, want ...string) {
	t.Helper()
	if got := kinds(r); !slices.Equal(got, want) {
		t.Errorf("%s: %q, want %q", what, got, want)
	}
}

func TestUnsyncedClockHoldsTheSchedule(t *testing.T) {
	s := mustParse(t, commune)
	loc := s.Location()
	at := func(h, m int) time.Time { return time.Date(2026, 12, 1, h, m, 0, 0, loc) }
	tr, _ := NewTracker(s, nil)
	tr.Decide(at(5, 0), ClockSynced)
	before, _ := json.Marshal(tr.State())
	for _, now := range []time.Time{at(5, 30), at(5, 45), at(6, 0)} {
		r := tr.Decide(now, ClockUnsynced)
		if r.Held != "unsynced" || len(r.Decisions) != 0 || r.Changed {
			t.Fatalf("unsynced at %s: %+v, want held and nothing decided", now.Format("15:04"), r)
		}
		if doc := tr.StateDoc(now, ClockUnsynced); doc.Clock != ClockUnsynced || doc.Next != nil {
			t.Errorf("state.schedule while unsynced = %+v", doc)
		}
	}
	after, _ := json.Marshal(tr.State())
	if string(before) != string(after) {
		t.Errorf("the state changed while the clock was not synchronised:\n%s\n%s", before, after)
	}
	// Synchronised at 06:10: the slot that began at 05:30 starts late.
	expect(t, "synced at 06:10", tr.Decide(at(6, 10), ClockSynced), "late sang:2026-12-01 2400")
	doc := tr.StateDoc(at(6, 10), ClockSynced)
	if doc.Clock != ClockSynced || doc.Next == nil || time.UnixMilli(*doc.Next).In(loc) != at(17, 0) || doc.NextItem != "chieu" {
		t.Errorf("state.schedule = %+v, want the 17:00 slot next", doc)
	}
}

func TestReplace(t *testing.T) {
	old := mustParse(t, commune)
	loc := old.Location()
	at := func(h, m int) time.Time { return time.Date(2026, 12, 2, h, m, 0, 0, loc) }
	tr, _ := NewTracker(old, nil)
	tr.Decide(at(16, 0), ClockSynced)
	expect(t, "17:00", tr.Decide(at(17, 0), ClockSynced), "start chieu:2026-12-02 0")
	expect(t, "17:30", tr.Decide(at(17, 30), ClockSynced), "start ban-tin-tinh:2026-12-02 0")
	// At 17:35 the province sends a new version: the evening slot and the
	// bulletin are kept (already playing: not started again, even though
	// the bulletin now says 17:31), a notice from 17:33 is added (its
	// window is open: it starts late), and an item at 16:00 (ended: not
	// reported missed, it was not scheduled then).
	next := strings.Replace(commune, `"2026-w49"`, `"2026-w49b"`, 1)
	next = strings.Replace(next, `"start":"17:30:00"`, `"start":"17:31:00"`, 1)
	next = strings.Replace(next, `"items":[`, `"items":[`+
		item("afternoon", "days", `["wed"]`, "start", `"16:00"`, "duration_s", "600")+","+
		item("thong-bao", "days", "-", "dates", `["2026-12-02"]`, "start", `"17:33"`, "duration_s", "600")+",", 1)
	ns := mustParse(t, next)
	r := tr.Replace(ns, at(17, 35), ClockSynced)
	expect(t, "replace at 17:35", r, "late thong-bao:2026-12-02 120")
	if !r.Changed || tr.Schedule() != ns || tr.State().Version != "2026-w49b" {
		t.Errorf("after Replace: changed %v, version %q", r.Changed, tr.State().Version)
	}
	// Cleared while unsynced: swapped, nothing decided.
	if r := tr.Replace(nil, at(17, 40), ClockUnsynced); r.Held == "" || tr.Schedule().Len() != 0 {
		t.Errorf("clear while unsynced: %+v", r)
	}
	if _, ok := tr.NextWake(at(17, 40)); ok {
		t.Error("an empty schedule has a next wake-up")
	}
}

func TestReplaceReportsWhatTheOldScheduleMissed(t *testing.T) {
	s := mustParse(t, commune)
	loc := s.Location()
	tr, _ := NewTracker(s, nil)
	tr.Decide(time.Date(2026, 12, 1, 4, 0, 0, 0, loc), ClockSynced)
	// Down from 04:00 to 07:00; the first thing after the restart is a
	// schedule.set.
	r := tr.Replace(Empty(), time.Date(2026, 12, 1, 7, 0, 0, 0, loc), ClockSynced)
	expect(t, "replace at 07:00", r, "missed sang:2026-12-01 5400")
}

func TestRestartDuringAnOccurrence(t *testing.T) {
	s := mustParse(t, commune)
	loc := s.Location()
	at := func(h, m int) time.Time { return time.Date(2026, 12, 1, h, m, 0, 0, loc) }
	restart := func(tr *Tracker) *Tracker {
		data, _ := json.Marshal(tr)
		var st State
		if err := json.Unmarshal(data, &st); err != nil {
			t.Fatal(err)
		}
		n, err := NewTracker(s, &st)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	t.Run("killed while it played", func(t *testing.T) {
		tr, _ := NewTracker(s, nil)
		tr.Decide(at(5, 0), ClockSynced)
		expect(t, "05:30", tr.Decide(at(5, 30), ClockSynced), "start sang:2026-12-01 0")
		tr = restart(tr)
		expect(t, "back at 05:41", tr.Decide(at(5, 41), ClockSynced), "late sang:2026-12-01 660 restarted")
		expect(t, "05:42", tr.Decide(at(5, 42), ClockSynced))
	})
	t.Run("it had ended", func(t *testing.T) {
		tr, _ := NewTracker(s, nil)
		tr.Decide(at(5, 0), ClockSynced)
		tr.Decide(at(5, 30), ClockSynced)
		if !tr.Ended("sang:2026-12-01") || tr.Ended("sang:2026-12-01") || tr.Ended("nope") {
			t.Error("Ended: want true once, then false")
		}
		tr = restart(tr)
		expect(t, "back at 05:41", tr.Decide(at(5, 41), ClockSynced))
	})
	t.Run("its window closed while down", func(t *testing.T) {
		tr, _ := NewTracker(s, nil)
		tr.Decide(at(5, 0), ClockSynced)
		tr.Decide(at(5, 30), ClockSynced)
		tr = restart(tr)
		// The playback log closes the interrupted record; the schedule
		// does not call a started occurrence missed.
		expect(t, "back at 07:00", tr.Decide(at(7, 0), ClockSynced))
	})
}

func TestClockSteppedBack(t *testing.T) {
	s := mustParse(t, commune)
	loc := s.Location()
	at := func(h, m, sec int) time.Time { return time.Date(2026, 12, 1, h, m, sec, 0, loc) }
	tr, _ := NewTracker(s, nil)
	tr.Decide(at(5, 0, 0), ClockSynced)
	expect(t, "05:30", tr.Decide(at(5, 30, 0), ClockSynced), "start sang:2026-12-01 0")
	expect(t, "stepped back to 05:29:50", tr.Decide(at(5, 29, 50), ClockSynced))
	expect(t, "05:30 again", tr.Decide(at(5, 30, 0), ClockSynced))
	expect(t, "17:00", tr.Decide(at(17, 0, 0), ClockSynced), "start chieu:2026-12-01 0")
}

func TestLongDowntimeIsBounded(t *testing.T) {
	s := mustParse(t, commune)
	loc := s.Location()
	tr, _ := NewTracker(s, nil)
	tr.Decide(time.Date(2026, 10, 1, 0, 0, 0, 0, loc), ClockSynced)
	r := tr.Decide(time.Date(2026, 12, 1, 5, 31, 0, 0, loc), ClockSynced)
	missed := 0
	for _, d := range r.Decisions {
		if d.Kind == KindMissed {
			missed++
		}
	}
	// 7 days back: 13 daily slots and a Saturday programme listed
	// (sang 25-30 Nov, chieu 24-30 Nov, Saturday the 28th); the rest of
	// the two months counted: 55 mornings, 54 evenings, 8 Saturdays.
	if missed != 14 || r.Dropped != 55+54+8 || r.Decisions[len(r.Decisions)-1].Kind != KindLate {
		t.Errorf("%d missed listed, %d dropped, last %v", missed, r.Dropped, r.Decisions[len(r.Decisions)-1].Kind)
	}
}

func TestNewTrackerRefusesBadState(t *testing.T) {
	for _, st := range []State{
		{V: 2},
		{V: 1, Open: []OpenState{{Key: "a", State: "playing"}}},
		{V: 1, Open: make([]OpenState, 4*MaxItems+1)},
	} {
		if _, err := NewTracker(nil, &st); err == nil {
			t.Errorf("state %+v accepted", st.Open[:min(1, len(st.Open))])
		}
	}
}

// TestWireGolden fixes the JSON the agent publishes and stores: the three
// events, state.schedule in both clock states, and the Tracker's State.
func TestWireGolden(t *testing.T) {
	s := mustParse(t, commune)
	loc := s.Location()
	at := func(d, h, m int) time.Time { return time.Date(2026, 12, d, h, m, 0, 0, loc) }
	var b strings.Builder
	line := func(label string, v any) {
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s\n%s\n", label, data)
	}
	tr, _ := NewTracker(s, nil)
	tr.Decide(at(2, 5, 0), ClockSynced)
	line("state.schedule, synced", tr.StateDoc(at(2, 5, 0), ClockSynced))
	line("state.schedule, unsynced", tr.StateDoc(at(2, 5, 0), ClockUnsynced))
	r := tr.Decide(at(2, 17, 40), ClockSynced) // down since 05:00
	for _, d := range r.Decisions {
		typ, data := d.Event(s.Version())
		line(typ, map[string]any{"ts": at(2, 17, 40).UnixMilli(), "type": typ, "data": data})
	}
	line("tracker state (kept in the state journal, DATA_DIR/state)", tr.State())
	data, _ := json.Marshal(tr)
	var st State
	json.Unmarshal(data, &st)
	tr, _ = NewTracker(s, &st)
	for _, d := range tr.Decide(at(2, 17, 45), ClockSynced).Decisions {
		typ, data := d.Event(s.Version())
		line(typ+", after a restart", map[string]any{"ts": at(2, 17, 45).UnixMilli(), "type": typ, "data": data})
	}
	golden(t, "wire.golden", b.String())
	if len(tr.State().Open) > 3 {
		t.Errorf("the state keeps %d open occurrences", len(tr.State().Open))
	}
}
