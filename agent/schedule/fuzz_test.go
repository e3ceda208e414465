package schedule

import (
	"encoding/json"
	"testing"
	"time"
)

// FuzzParse: no input crashes Parse, and whatever it accepts evaluates and
// round-trips through its stored form.
func FuzzParse(f *testing.F) {
	f.Add([]byte(issueDoc))
	f.Add([]byte(commune))
	f.Add([]byte(doc(item("a", "start", `"23:30"`, "duration_s", "-", "end", `"00:30"`))))
	f.Add([]byte(`{"version":"v","items":[{"id":"a","id":"b"}]}`))
	f.Add([]byte(`{"version":"v","tz":"Europe/Paris","items":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data, Options{Zones: poleZones})
		if err != nil {
			return
		}
		stored, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		again, err := Parse(stored, Options{Zones: poleZones})
		if err != nil {
			t.Fatalf("the stored form of an accepted document is refused: %v\n%s", err, stored)
		}
		if a, _ := json.Marshal(again); string(a) != string(stored) {
			t.Fatalf("round trip changed the document:\n%s\n%s", stored, a)
		}
		now := time.Date(2026, 12, 1, 5, 0, 0, 0, time.UTC)
		for _, o := range s.Between(now, now.Add(48*time.Hour)) {
			if !o.End.After(o.Start) || o.End.Sub(o.Start) > MaxDuration+time.Hour {
				t.Fatalf("occurrence %s has window %v → %v", o.Key(), o.Start, o.End)
			}
			if len(o.Key()) > 64 {
				t.Fatalf("occurrence key %q is longer than a play item id", o.Key())
			}
		}
		tr, _ := NewTracker(s, nil)
		tr.Decide(now, ClockSynced)
		tr.Decide(now.Add(30*time.Hour), ClockSynced)
		s.Next(now)
		s.Pinned(now)
		s.MediaNeeds(now, 24*time.Hour)
	})
}
