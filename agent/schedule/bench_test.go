package schedule

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// bigSchedule is n items spread over the day: most daily, some on a few
// weekdays, some on ten dates, with windows of 5 to 60 minutes.
func bigSchedule(b testing.TB, n int) *Schedule {
	r := rand.New(rand.NewPCG(9, 9))
	items := make([]string, n)
	for i := range items {
		start := fmt.Sprintf(`"%02d:%02d"`, r.IntN(24), r.IntN(60))
		dur := fmt.Sprint(300 + r.IntN(3300))
		switch i % 5 {
		case 0, 1, 2:
			items[i] = item(fmt.Sprintf("daily-%d", i), "days", `["mon","tue","wed","thu","fri","sat","sun"]`, "start", start, "duration_s", dur)
		case 3:
			items[i] = item(fmt.Sprintf("weekly-%d", i), "days", `["tue","sat"]`, "start", start, "duration_s", dur)
		default:
			var dates []string
			for k := range 10 {
				dates = append(dates, `"`+time.Date(2026, 12, 1+3*k, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)+`"`)
			}
			items[i] = item(fmt.Sprintf("dated-%d", i), "days", "-", "dates", "["+strings.Join(dates, ",")+"]", "start", start, "duration_s", dur)
		}
	}
	s, err := Parse([]byte(doc(items...)), Options{})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// The evaluation cost for 1,000 items. Reproduce with
//
//	go test -run '^$' -bench . -benchmem ./agent/schedule/
func BenchmarkNext1000(b *testing.B) {
	s := bigSchedule(b, 1000)
	t := time.Date(2026, 12, 2, 13, 7, 0, 0, s.Location())
	for b.Loop() {
		if _, ok := s.Next(t); !ok {
			b.Fatal("nothing next")
		}
	}
}

func BenchmarkActive1000(b *testing.B) {
	s := bigSchedule(b, 1000)
	t := time.Date(2026, 12, 2, 13, 7, 0, 0, s.Location())
	for b.Loop() {
		s.Active(t)
	}
}

// BenchmarkDecide1000 is one wake-up of the agent: decide what is due at a
// start, then find the next wake-up.
func BenchmarkDecide1000(b *testing.B) {
	s := bigSchedule(b, 1000)
	tr, _ := NewTracker(s, nil)
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, s.Location())
	tr.Decide(now, ClockSynced)
	for b.Loop() {
		next, _ := tr.NextWake(now)
		tr.Decide(next, ClockSynced)
		now = next
	}
}

func BenchmarkBetweenDay1000(b *testing.B) {
	s := bigSchedule(b, 1000)
	t := time.Date(2026, 12, 2, 0, 0, 0, 0, s.Location())
	for b.Loop() {
		s.Between(t, t.Add(24*time.Hour))
	}
}

func BenchmarkParse1000(b *testing.B) {
	data, _ := json.Marshal(bigSchedule(b, 1000))
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(data, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
