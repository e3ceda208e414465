package schedule

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loaxa/loaxa/agent/playargs"
)

func mustParse(t testing.TB, d string) *Schedule {
	t.Helper()
	s, err := Parse([]byte(d), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNext(t *testing.T) {
	s := mustParse(t, doc(
		item("weekly", "days", `["wed"]`, "start", `"06:00"`),
		item("dated", "days", "-", "dates", `["2026-12-24","2027-01-01"]`, "start", `"20:00"`),
		item("both", "days", `["mon"]`, "dates", `["2026-12-26"]`, "start", `"07:15:30"`),
	))
	loc := s.Location()
	at := func(mo time.Month, d, h, m int) time.Time { return time.Date(2026, mo, d, h, m, 0, 0, loc) }
	tests := []struct {
		after time.Time
		want  string
	}{
		{at(12, 1, 0, 0), "weekly 2026-12-02 06:00:00"},                       // Tue → Wed
		{at(12, 2, 6, 0), "both 2026-12-07 07:15:30"},                         // strictly after: not the 06:00 that starts now
		{at(12, 2, 5, 59), "weekly 2026-12-02 06:00:00"},                      //
		{at(12, 21, 7, 16), "weekly 2026-12-23 06:00:00"},                     // Monday's passed
		{at(12, 23, 7, 0), "dated 2026-12-24 20:00:00"},                       // a date before the next weekday
		{at(12, 25, 0, 0), "both 2026-12-26 07:15:30"},                        // the extra date of a weekly item
		{at(12, 31, 21, 0), "dated 2027-01-01 20:00:00"},                      // into the new year
		{time.Date(2027, 1, 1, 20, 0, 0, 0, loc), "both 2027-01-04 07:15:30"}, // Monday
	}
	for _, tt := range tests {
		t.Run(tt.after.Format(time.DateTime), func(t *testing.T) {
			o, ok := s.Next(tt.after)
			got := "none"
			if ok {
				got = o.Item.ID + " " + o.Start.In(loc).Format(time.DateTime)
			}
			if got != tt.want {
				t.Errorf("Next(%v) = %s, want %s", tt.after, got, tt.want)
			}
		})
	}
	only := mustParse(t, doc(item("once", "days", "-", "dates", `["2026-12-24"]`)))
	if o, ok := only.Next(time.Date(2026, 12, 24, 5, 30, 0, 0, loc)); ok {
		t.Errorf("an item whose only date started has a next occurrence: %v", o.Start)
	}
	if _, ok := Empty().Next(time.Now()); ok {
		t.Error("the empty schedule has a next occurrence")
	}
}

func TestActiveAcrossMidnight(t *testing.T) {
	s := mustParse(t, doc(
		item("night", "days", `["mon"]`, "start", `"23:30"`, "duration_s", "-", "end", `"00:30"`),
		item("long", "days", `["sun"]`, "start", `"12:00"`, "duration_s", "86400"),
	))
	loc := s.Location()
	tests := []struct {
		at   time.Time
		want []string
	}{
		{time.Date(2026, 11, 30, 23, 29, 59, 0, loc), nil},
		{time.Date(2026, 11, 30, 23, 30, 0, 0, loc), []string{"night:2026-11-30"}},
		{time.Date(2026, 12, 1, 0, 10, 0, 0, loc), []string{"night:2026-11-30"}}, // Tuesday: Monday's item
		{time.Date(2026, 12, 1, 0, 30, 0, 0, loc), nil},                          // the end is out
		{time.Date(2026, 11, 30, 11, 59, 0, 0, loc), []string{"long:2026-11-29"}},
		{time.Date(2026, 11, 30, 12, 0, 0, 0, loc), nil},
	}
	for _, tt := range tests {
		var got []string
		for _, o := range s.Active(tt.at) {
			got = append(got, o.Key())
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Active(%s) = %v, want %v", tt.at.Format(time.DateTime), got, tt.want)
		}
	}
}

// TestDaylightSaving: in a zone with daylight saving, every occurrence is
// at its wall-clock time, even on the days the clocks change.
func TestDaylightSaving(t *testing.T) {
	s := mustParse(t, `{"version":"v1","tz":"Europe/Paris","items":[`+
		item("gap", "days", `["sun"]`, "start", `"02:30"`, "duration_s", "-", "end", `"04:00"`)+","+
		item("daily", "days", `["mon","tue","wed","thu","fri","sat","sun"]`, "start", `"08:00"`)+`]}`)
	loc := s.Location()
	from := time.Date(2026, 3, 27, 0, 0, 0, 0, loc)
	for _, o := range s.Between(from, from.AddDate(0, 0, 7)) {
		local := o.Start.In(loc)
		switch o.Item.ID {
		case "daily":
			if local.Hour() != 8 || local.Minute() != 0 {
				t.Errorf("%s starts at %s, want 08:00 local", o.Key(), local)
			}
		case "gap":
			// 2026-03-29 02:30 does not exist in Paris; Go moves it to
			// 03:30, and the window keeps its end.
			if o.Date == "2026-03-29" && (local.Hour() != 3 || !o.End.In(loc).Equal(time.Date(2026, 3, 29, 4, 0, 0, 0, loc))) {
				t.Errorf("the gap day's occurrence is %s → %s", local, o.End.In(loc))
			}
		}
	}
	if n := len(s.Between(from, from.AddDate(0, 0, 7))); n != 8 {
		t.Errorf("%d occurrences in a week, want 7 daily and 1 weekly", n)
	}
}

func TestPinnedAndMediaNeeds(t *testing.T) {
	s := mustParse(t, doc(
		item("a", "source", `"file:a.mp3"`, "url", `"https://x.vn/a.mp3"`, "sha256", `"`+sha+`"`),
		item("a2", "source", `"file:a.mp3"`, "url", `"https://x.vn/a.mp3"`, "sha256", `"`+sha+`"`, "days", `["sun"]`),
		item("b", "source", `"file:b.mp3"`, "days", "-", "dates", `["2026-12-02"]`, "start", `"17:00"`,
			"url", `"https://x.vn/b.mp3"`, "sha256", `"`+strings.Repeat("b", 64)+`"`),
		item("c", "source", `"file:c.mp3"`, "days", "-", "dates", `["2026-11-01"]`),
		item("stream", "source", `"https://x.vn/live"`),
		item("local", "source", `"file:stored.wav"`),
	))
	loc := s.Location()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, loc) // Tuesday noon
	if got, want := s.Pinned(now), []string{"a.mp3", "b.mp3", "stored.wav"}; !slices.Equal(got, want) {
		t.Errorf("Pinned = %v, want %v (c's only date is past)", got, want)
	}
	if got := s.Pinned(time.Date(2026, 12, 5, 0, 0, 0, 0, loc)); slices.Contains(got, "b.mp3") {
		t.Errorf("Pinned after b's date = %v", got)
	}
	var got []string
	for _, n := range s.MediaNeeds(now, 24*time.Hour) {
		got = append(got, fmt.Sprintf("%s %s", n.Name, n.First.In(loc).Format("Mon 15:04")))
	}
	// b (Wed 17:00) is 29 h away: not within 24 h; a on Friday neither.
	if len(got) != 0 {
		t.Errorf("MediaNeeds(24h) = %v, want none", got)
	}
	got = nil
	for _, n := range s.MediaNeeds(now, 48*time.Hour) {
		got = append(got, fmt.Sprintf("%s %s %s", n.Name, n.First.In(loc).Format("Mon 15:04"), n.SHA256[:4]))
	}
	if want := []string{"b.mp3 Wed 17:00 bbbb"}; !slices.Equal(got, want) {
		t.Errorf("MediaNeeds(48h) = %v, want %v", got, want)
	}
	fri := time.Date(2026, 12, 4, 5, 40, 0, 0, loc) // a's window is open: needed now
	if n := s.MediaNeeds(fri, time.Hour); len(n) != 1 || n[0].Name != "a.mp3" || n[0].URL != "https://x.vn/a.mp3" {
		t.Errorf("MediaNeeds during a's window = %+v", n)
	}
}

func TestOccurrencePlay(t *testing.T) {
	vol := 65
	s := mustParse(t, doc(item("a", "start", `"05:30"`, "volume", "65", "zones", `["z2"]`, "priority", `"priority"`, "repeat", "2")))
	o, _ := s.Next(time.Date(2026, 11, 30, 0, 0, 0, 0, s.Location()))
	p := o.Play(o.Start.Add(-time.Minute)) // before the start: the whole window
	want := playargs.Play{Source: "file:tin.mp3", Priority: "priority", Zones: []string{"z2"}, Volume: &vol, Repeat: 2,
		DurationS: 3600, Until: o.End.UnixMilli(), Item: "a:2026-11-30"}
	a, _ := json.Marshal(p)
	b, _ := json.Marshal(want)
	if string(a) != string(b) {
		t.Errorf("playargs.Play = %s\nwant   %s", a, b)
	}
	if fe := playargs.Check(&p, poleZones, o.Start); fe != nil {
		t.Errorf("the play arguments of an occurrence fail play's checks: %v", fe)
	}
}

// TestAnyInstant: evaluation at an instant a broken clock may give never
// fails; before 1970 or far ahead there is simply nothing, or the next
// weekly occurrence.
func TestAnyInstant(t *testing.T) {
	s := mustParse(t, commune)
	for _, at := range []time.Time{{}, time.Unix(-1, 0), time.Date(1960, 5, 1, 5, 30, 0, 0, time.UTC), time.Unix(0, 0),
		time.Date(2199, 12, 31, 23, 59, 59, 0, time.UTC), time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)} {
		s.Next(at)
		s.Active(at)
		s.Between(at, at.Add(48*time.Hour))
		s.Pinned(at)
		tr, _ := NewTracker(s, nil)
		tr.Decide(at, ClockSynced)
		tr.Decide(at.Add(time.Hour), ClockSynced)
	}
	if got := s.Pinned(time.Time{}); len(got) != 2 {
		t.Errorf("Pinned(zero) = %v: with no usable time every file of the schedule is pinned", got)
	}
}
