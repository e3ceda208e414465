package schedule

import (
	"cmp"
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/loaxa/loaxa/agent/playargs"
)

// civil is a calendar date as days since 1970-01-01.
type civil int32

func civilOf(y int, m time.Month, d int) civil {
	return civil(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

func (c civil) date() (int, time.Month, int) { return time.Unix(int64(c)*86400, 0).UTC().Date() }

// weekday: 1970-01-01 was a Thursday. An instant before 1970 (a clock
// that was never set) gives a negative c.
func (c civil) weekday() time.Weekday { return time.Weekday(((int64(c)+4)%7 + 7) % 7) }

func (c civil) String() string { return time.Unix(int64(c)*86400, 0).UTC().Format(time.DateOnly) }

// Schedule is a validated schedule, ready to evaluate. It is immutable, so
// it may be shared between goroutines.
type Schedule struct {
	doc   Document
	loc   *time.Location
	items []compiled
}

// compiled is an item in the form evaluation needs.
type compiled struct {
	it       *Item
	index    int
	days     uint8   // bit n: time.Weekday(n)
	dates    []civil // sorted
	start    int     // seconds after local midnight
	end      int     // seconds after local midnight; -1 with a duration
	duration time.Duration
}

// Empty returns a schedule with no items and no version: the state after
// schedule.clear, or before any schedule.set.
func Empty() *Schedule { return &Schedule{doc: Document{TZ: DefaultTZ, Items: []Item{}}, loc: vietnam} }

func compileDoc(doc Document, raws []json.RawMessage, opts Options, ps *problems) (*Schedule, error) {
	loc := validate(&doc, opts, ps)
	if err := ps.err(); err != nil {
		return nil, err
	}
	s := &Schedule{doc: doc, loc: loc, items: make([]compiled, len(doc.Items))}
	for i := range s.doc.Items {
		it := &s.doc.Items[i]
		c := compiled{it: it, index: i, end: -1}
		for _, d := range it.Days {
			c.days |= 1 << slices.Index(dayNames, d)
		}
		for _, d := range it.Dates {
			day, _ := parseDate(d) // validated
			c.dates = append(c.dates, day)
		}
		slices.Sort(c.dates)
		c.start, _ = parseClock(it.Start)
		if it.End != "" {
			c.end, _ = parseClock(it.End)
		} else {
			c.duration = time.Duration(it.DurationS * float64(time.Second))
		}
		s.items[i] = c
	}
	return s, nil
}

// Doc returns the document as validated: "tz" filled in when it was
// absent, sha256 in lower case; otherwise as given. It is what
// schedule.get answers and what the agent stores.
func (s *Schedule) Doc() Document {
	d := s.doc
	d.Items = slices.Clone(d.Items)
	return d
}

// MarshalJSON encodes Doc, for storage and for schedule.get.
func (s *Schedule) MarshalJSON() ([]byte, error) { return json.Marshal(s.doc) }

// Version is the document's version label ("" for Empty).
func (s *Schedule) Version() string { return s.doc.Version }

// Len is the number of items.
func (s *Schedule) Len() int { return len(s.items) }

// Location is the zone the items' times are in.
func (s *Schedule) Location() *time.Location { return s.loc }

// Occurrence is one airing of an item: its window on one date.
type Occurrence struct {
	// Item is the schedule item; it must not be modified.
	Item *Item
	// Index is the item's position in the document.
	Index int
	// Date is the local date the occurrence starts on, YYYY-MM-DD.
	Date string
	// Start and End bound its window; End is after Start.
	Start, End time.Time
}

// Key identifies the occurrence: item id, ':', date. It is also the id of
// the play item the agent makes of it (at most 59 characters).
func (o Occurrence) Key() string { return o.Item.ID + ":" + o.Date }

// Open reports whether the window is open at t: Start <= t < End.
func (o Occurrence) Open(t time.Time) bool { return !t.Before(o.Start) && t.Before(o.End) }

// playargs.Play returns the play arguments that air the occurrence at now: the
// item's own, with the occurrence's key as item id, the rest of the window
// as duration_s (a late start ends with its slot) and the window's end as
// until (an interrupted occurrence may resume until then).
func (o Occurrence) Play(now time.Time) playargs.Play {
	p := o.Item.play()
	p.Item = o.Key()
	from := now
	if from.Before(o.Start) {
		from = o.Start
	}
	left := o.End.Sub(from)
	p.DurationS = left.Seconds()
	p.Until = o.End.UnixMilli()
	return p
}

// occursOn reports whether the item occurs on day.
func (c *compiled) occursOn(day civil) bool {
	if c.days&(1<<day.weekday()) != 0 {
		return true
	}
	_, found := slices.BinarySearch(c.dates, day)
	return found
}

// days caches local midnights for one evaluation: most instants of a day
// are its midnight plus seconds, which is far cheaper than time.Date.
type days struct {
	loc  *time.Location
	base civil
	info []dayInfo
}

type dayInfo struct {
	set      bool
	y        int
	m        time.Month
	d        int
	midnight time.Time
	// simple: the zone's offset is the same at both ends of the day, so
	// midnight+seconds is the wall time.
	simple bool
}

func newDays(loc *time.Location, from, to civil) *days {
	return &days{loc: loc, base: from, info: make([]dayInfo, max(0, int(to-from)+1))}
}

func (ds *days) get(day civil) *dayInfo {
	i := int(day - ds.base)
	var di *dayInfo
	if i >= 0 && i < len(ds.info) {
		di = &ds.info[i]
	} else {
		di = new(dayInfo)
	}
	if !di.set {
		di.set = true
		di.y, di.m, di.d = day.date()
		di.midnight = time.Date(di.y, di.m, di.d, 0, 0, 0, 0, ds.loc)
		next := time.Date(di.y, di.m, di.d+1, 0, 0, 0, 0, ds.loc)
		_, off1 := di.midnight.Zone()
		_, off2 := next.Zone()
		di.simple = off1 == off2 && next.Sub(di.midnight) == 24*time.Hour
	}
	return di
}

// at is the instant of sec seconds after the local midnight of day
// (sec may exceed a day: the end of a window crossing midnight).
func (ds *days) at(day civil, sec int) time.Time {
	if sec >= 86400 {
		return ds.at(day+1, sec-86400)
	}
	di := ds.get(day)
	if di.simple {
		return di.midnight.Add(time.Duration(sec) * time.Second)
	}
	return time.Date(di.y, di.m, di.d, sec/3600, sec/60%60, sec%60, 0, ds.loc)
}

// occurrence is the item's occurrence on day.
func (s *Schedule) occurrence(ds *days, c *compiled, day civil) Occurrence {
	start, end := s.window(ds, c, day)
	return Occurrence{Item: c.it, Index: c.index, Date: day.String(), Start: start, End: end}
}

// window is the start and end of the item's occurrence on day.
func (s *Schedule) window(ds *days, c *compiled, day civil) (start, end time.Time) {
	start = ds.at(day, c.start)
	if c.end < 0 {
		end = start.Add(c.duration)
	} else {
		wall := c.end - c.start
		if wall <= 0 {
			wall += 86400 // crosses midnight
		}
		end = ds.at(day, c.start+wall)
		if !end.After(start) {
			// A daylight-saving change ate the window; keep its length.
			end = start.Add(time.Duration(wall) * time.Second)
		}
	}
	return start, end
}

func (s *Schedule) dayOf(t time.Time) civil { return civilOf(t.In(s.loc).Date()) }

func occOrder(a, b Occurrence) int {
	if c := a.Start.Compare(b.Start); c != 0 {
		return c
	}
	return cmp.Compare(a.Index, b.Index)
}

// Between returns the occurrences that start in [from, to), by start time
// then document order.
func (s *Schedule) Between(from, to time.Time) []Occurrence {
	if !from.Before(to) || len(s.items) == 0 {
		return nil
	}
	first, last := s.dayOf(from)-1, s.dayOf(to)
	ds := newDays(s.loc, first, last+1)
	var out []Occurrence
	for day := first; day <= last; day++ {
		for i := range s.items {
			c := &s.items[i]
			if !c.occursOn(day) {
				continue
			}
			if st := ds.at(day, c.start); !st.Before(from) && st.Before(to) {
				out = append(out, s.occurrence(ds, c, day))
			}
		}
	}
	slices.SortFunc(out, occOrder)
	return out
}

// count is the number of occurrences that start in (from, to], without
// building them.
func (s *Schedule) count(from, to time.Time) int {
	if !from.Before(to) || len(s.items) == 0 {
		return 0
	}
	first, last := s.dayOf(from)-1, s.dayOf(to)
	ds := newDays(s.loc, first, last+1)
	n := 0
	for day := first; day <= last; day++ {
		for i := range s.items {
			c := &s.items[i]
			if !c.occursOn(day) {
				continue
			}
			if st := ds.at(day, c.start); st.After(from) && !st.After(to) {
				n++
			}
		}
	}
	return n
}

// Active returns the occurrences whose window is open at t, by start time
// then document order.
func (s *Schedule) Active(t time.Time) []Occurrence {
	if len(s.items) == 0 {
		return nil
	}
	// A window lasts at most a day, so it started at most two local dates
	// before t's (one more for a daylight-saving day).
	today := s.dayOf(t)
	ds := newDays(s.loc, today-2, today+1)
	var out []Occurrence
	for day := today - 2; day <= today; day++ {
		for i := range s.items {
			c := &s.items[i]
			if !c.occursOn(day) {
				continue
			}
			if start, end := s.window(ds, c, day); !start.After(t) && t.Before(end) {
				out = append(out, s.occurrence(ds, c, day))
			}
		}
	}
	slices.SortFunc(out, occOrder)
	return out
}

// Next returns the first occurrence that starts after t (strictly), and
// false when no item occurs again.
func (s *Schedule) Next(t time.Time) (Occurrence, bool) {
	today := s.dayOf(t)
	ds := newDays(s.loc, today-1, today+8)
	var best Occurrence
	found := false
	for i := range s.items {
		c := &s.items[i]
		day, ok := c.nextDay(ds, t, today)
		if !ok {
			continue
		}
		st := ds.at(day, c.start)
		if !found || st.Before(best.Start) || st.Equal(best.Start) && c.index < best.Index {
			best = s.occurrence(ds, c, day)
			found = true
		}
	}
	return best, found
}

// nextDay is the first day on which the item starts after t.
func (c *compiled) nextDay(ds *days, t time.Time, today civil) (civil, bool) {
	var best civil
	found := false
	if c.days != 0 {
		for day := today - 1; day <= today+8; day++ {
			if c.days&(1<<day.weekday()) != 0 && ds.at(day, c.start).After(t) {
				best, found = day, true
				break
			}
		}
	}
	i := sort.Search(len(c.dates), func(i int) bool { return c.dates[i] >= today-1 })
	for ; i < len(c.dates); i++ {
		day := c.dates[i]
		if found && day >= best {
			break
		}
		if ds.at(day, c.start).After(t) {
			best, found = day, true
			break
		}
	}
	return best, found
}

// lastDay is the last date the item occurs on; ok is false for an item on
// weekdays, which never ends.
func (c *compiled) lastDay() (civil, bool) {
	if c.days != 0 {
		return 0, false
	}
	return c.dates[len(c.dates)-1], true
}

// Pinned returns the media names (file:NAME sources) of the items that
// still occur after t, or are on air at t, sorted: the media cache must not
// evict them. While the clock is not synchronised, pass the zero time:
// every file of the schedule is pinned.
func (s *Schedule) Pinned(t time.Time) []string {
	var out []string
	today := s.dayOf(t)
	for i := range s.items {
		c := &s.items[i]
		name, ok := strings.CutPrefix(c.it.Source, "file:")
		if !ok {
			continue
		}
		// A window lasts at most a day: an item whose last date is two
		// days past is over.
		if last, ends := c.lastDay(); ends && last < today-1 {
			continue
		}
		out = append(out, name)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// MediaNeed is a file the schedule will play, with where to fetch it.
type MediaNeed struct {
	Name   string
	URL    string
	SHA256 string
	// First is the earliest start of an occurrence that needs it.
	First time.Time
}

// MediaNeeds returns the files (items with url and sha256) of the
// occurrences on air at now or starting before now+lead, earliest first:
// what the media cache fetches ahead (media.lead_h).
func (s *Schedule) MediaNeeds(now time.Time, lead time.Duration) []MediaNeed {
	var out []MediaNeed
	seen := map[string]bool{}
	add := func(o Occurrence) {
		it := o.Item
		if it.URL == "" {
			return
		}
		name := strings.TrimPrefix(it.Source, "file:")
		if seen[name] {
			return
		}
		seen[name] = true
		out = append(out, MediaNeed{Name: name, URL: it.URL, SHA256: it.SHA256, First: o.Start})
	}
	for _, o := range s.Active(now) {
		add(o)
	}
	for _, o := range s.Between(now, now.Add(lead)) {
		add(o)
	}
	return out
}
