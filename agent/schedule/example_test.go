package schedule_test

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/loaxa/loaxa/agent/schedule"
)

// The agent's owner goroutine: parse schedule.set, replace, then on every
// wake-up decide and carry out the decisions.
func Example() {
	s, err := schedule.Parse([]byte(`{"version":"2026-12-01a","items":[
		{"id":"thoi-su-sang","days":["mon","tue","wed","thu","fri","sat","sun"],"start":"05:30","duration_s":3600,
		 "source":"https://radio.example.vn/tinh.mp3","origin":"province"}]}`), schedule.Options{Zones: []string{"z1", "z2"}})
	if err != nil {
		fmt.Println(err) // the bad_args message: names the item and field
		return
	}
	loc := s.Location()
	tr, _ := schedule.NewTracker(nil, nil) // or the State read back from disk
	now := time.Date(2026, 12, 1, 5, 42, 0, 0, loc)
	r := tr.Replace(s, now, schedule.ClockSynced) // the clock status comes from the hal
	for _, d := range r.Decisions {
		typ, data := d.Event(s.Version())
		play := d.Play(now) // offered to the ladder like a play command
		fmt.Println(typ, data["item"], data["late_s"], play.DurationS)
	}
	if r.Changed {
		state, _ := json.Marshal(tr.State()) // written atomically
		fmt.Println(string(state))
	}
	next, _ := tr.NextWake(now)
	fmt.Println("wake at", next.In(loc).Format(time.DateTime))
	doc, _ := json.Marshal(tr.StateDoc(now, schedule.ClockSynced))
	fmt.Println(string(doc))
	// Output:
	// schedule.late thoi-su-sang:2026-12-01 720 2880
	// {"v":1,"version":"2026-12-01a","through":1796078520000,"open":[{"key":"thoi-su-sang:2026-12-01","end":1796081400000,"state":"started"}]}
	// wake at 2026-12-02 05:30:00
	// {"version":"2026-12-01a","clock":"synced","next":1796164200000,"next_item":"thoi-su-sang","items":1}
}
