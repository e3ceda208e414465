package schedule

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/loaxa/loaxa/agent/wire"
)

// ClockStatus is whether the pole's clock can be trusted to place a
// broadcast. The agent gets the kernel's report from the hal (adjtimex on
// a pole, DATA_DIR/sim/clock under --sim) and passes it through ClockGate.
type ClockStatus string

// The clock statuses.
const (
	ClockSynced   ClockStatus = "synced"
	ClockUnsynced ClockStatus = "unsynced"
)

// ClockGate is the policy of the sync gate: the clock is usable only when
// the kernel says it is synchronised and it does not read a time before
// notBefore (the build time of the firmware: a board without a battery
// boots in 1970 or at its last shutdown, and a kernel may call that synced
// after a bad manual set). A zero notBefore skips that check.
func ClockGate(kernelSynced bool, now, notBefore time.Time) ClockStatus {
	if !kernelSynced || now.Before(notBefore) {
		return ClockUnsynced
	}
	return ClockSynced
}

// Kind is what the Tracker decided for an occurrence.
type Kind string

// The decisions. Their events are "schedule." + Kind.
const (
	// KindStart: the occurrence starts on time (within Tracker.Grace).
	KindStart Kind = "start"
	// KindLate: its start passed (the agent was down, the clock was not
	// synchronised, or the schedule arrived during its window) but its
	// window is open: it starts now, LateS seconds late.
	KindLate Kind = "late"
	// KindMissed: its window closed before it could start.
	KindMissed Kind = "missed"
)

// Decision is one occurrence to start or to log as missed.
type Decision struct {
	Kind Kind
	Occurrence
	// LateS is how many seconds after its start the decision was taken
	// (a fraction for KindStart, within Grace).
	LateS float64
	// Restarted: the occurrence had been started, the agent stopped
	// before it ended, and its window is still open: it starts again.
	Restarted bool
}

// Result is the outcome of Decide or Replace.
type Result struct {
	// Held is non-empty when nothing was evaluated: "unsynced" (the clock
	// cannot be trusted). The state did not change.
	Held string
	// Decisions are in start order.
	Decisions []Decision
	// Changed: the State differs in what a restart would see; the agent
	// persists State() (atomically) when it is set. Only the passing of
	// time without any occurrence is not a change.
	Changed bool
	// Dropped counts missed occurrences older than Tracker.Lookback that
	// were not listed (an agent down for weeks).
	Dropped int
}

// Defaults of a Tracker.
const (
	DefaultGrace    = 5 * time.Second
	DefaultLookback = 7 * 24 * time.Hour
)

// maxCount bounds how far back Dropped counts, so that a clock or a state
// from long ago costs no more than a year of counting.
const maxCount = 366 * 24 * time.Hour

// Tracker remembers which occurrences were decided, so each is started
// (or logged missed) once. It belongs to the agent's owner goroutine; it
// is not safe for concurrent use.
type Tracker struct {
	// Grace is how late a start may be and still count as on time: the
	// agent's timer fires a little after the start.
	Grace time.Duration
	// Lookback bounds how far back missed occurrences are listed after a
	// long time down.
	Lookback time.Duration
	// MinLeft is the least window a late start needs; with less left the
	// occurrence is missed. Zero: any open window.
	MinLeft time.Duration

	s *Schedule
	// through: every occurrence that starts at or before it was decided
	// (zero: never evaluated).
	through time.Time
	// open holds the decided occurrences whose window was open when last
	// seen, by key: they are not decided again while it stays open, even
	// across a new version or a clock stepped back.
	open map[string]openEntry
	// restored: the state came from disk; the first Decide restarts the
	// occurrences that were playing when the agent stopped.
	restored bool
}

type openEntry struct {
	End   time.Time
	State string // "started", "ended" or "missed"
}

// State is the Tracker's memory, for the agent to persist. It is small:
// the occurrences whose window was open (at most a few per item) and one
// instant.
type State struct {
	// V is the format version of this document (1).
	V int `json:"v"`
	// Version is the schedule version the state was last evaluated with.
	Version string `json:"version"`
	// Through is in ms since the epoch: every occurrence that starts at
	// or before it was decided. 0: never evaluated.
	Through int64 `json:"through"`
	// Open are the decided occurrences whose window was still open.
	Open []OpenState `json:"open"`
}

// OpenState is one decided occurrence with an open window.
type OpenState struct {
	Key   string `json:"key"`
	End   int64  `json:"end"`   // ms epoch
	State string `json:"state"` // started, ended, missed
}

// stateVersion is the format version State writes.
const stateVersion = 1

// NewTracker returns a Tracker for s (nil means Empty()), with the state
// st read back from disk (nil for a first start). A state of another
// format version is refused: its owner migrates or discards it.
func NewTracker(s *Schedule, st *State) (*Tracker, error) {
	if s == nil {
		s = Empty()
	}
	t := &Tracker{Grace: DefaultGrace, Lookback: DefaultLookback, s: s, open: map[string]openEntry{}}
	if st == nil {
		return t, nil
	}
	if st.V != stateVersion {
		return nil, fmt.Errorf("schedule state has format version %d, this firmware reads %d", st.V, stateVersion)
	}
	if len(st.Open) > 4*MaxItems {
		return nil, fmt.Errorf("schedule state lists %d open occurrences, at most %d", len(st.Open), 4*MaxItems)
	}
	if st.Through > 0 {
		t.through = time.UnixMilli(st.Through)
	}
	for _, o := range st.Open {
		switch o.State {
		case "started", "ended", "missed":
		default:
			return nil, fmt.Errorf("schedule state: occurrence %q has state %q", wire.Truncate(o.Key, 80), wire.Truncate(o.State, 20))
		}
		t.open[o.Key] = openEntry{End: time.UnixMilli(o.End), State: o.State}
	}
	t.restored = true
	return t, nil
}

// Schedule is the schedule the Tracker evaluates.
func (t *Tracker) Schedule() *Schedule { return t.s }

// State returns the memory to persist.
func (t *Tracker) State() State {
	st := State{V: stateVersion, Version: t.s.Version(), Open: []OpenState{}}
	if !t.through.IsZero() {
		st.Through = t.through.UnixMilli()
	}
	for _, k := range slices.Sorted(maps.Keys(t.open)) {
		e := t.open[k]
		st.Open = append(st.Open, OpenState{Key: k, End: e.End.UnixMilli(), State: e.State})
	}
	return st
}

// MarshalJSON encodes State().
func (t *Tracker) MarshalJSON() ([]byte, error) { return json.Marshal(t.State()) }

// Decide evaluates the schedule at now: the occurrences that started since
// the last evaluation, or whose window is open and that were never
// decided, start (on time or late) or are missed. Nothing happens while
// clk is not ClockSynced: Result.Held says so.
//
// After a restart, the first Decide also starts again, late, the
// occurrences that were started but had not ended (Ended) when the agent
// stopped, if their window is still open.
func (t *Tracker) Decide(now time.Time, clk ClockStatus) Result {
	if clk != ClockSynced {
		return Result{Held: string(ClockUnsynced)}
	}
	var r Result
	from := t.through
	if from.IsZero() {
		// A first evaluation: nothing before now was this pole's to play.
		from = now
	}
	if oldest := now.Add(-t.Lookback); from.Before(oldest) {
		if floor := oldest.Add(-maxCount); from.Before(floor) {
			from = floor
		}
		r.Dropped = t.s.count(from, oldest)
		from = oldest
	}
	var cands []Occurrence
	if from.Before(now) {
		// (from, now]: starts are whole seconds, through whole ms.
		cands = t.s.Between(from.Add(time.Millisecond), now.Add(time.Millisecond))
	}
	cands = append(cands, t.s.Active(now)...)
	slices.SortFunc(cands, occOrder)
	cands = slices.CompactFunc(cands, func(a, b Occurrence) bool { return a.Key() == b.Key() })
	if t.restored {
		t.restored = false
		for _, o := range t.s.Active(now) {
			if e, ok := t.open[o.Key()]; ok && e.State == "started" {
				delete(t.open, o.Key())
				r.Changed = true
				if !t.lateOK(o, now) {
					continue
				}
				r.Decisions = append(r.Decisions, Decision{Kind: KindLate, Occurrence: o, LateS: now.Sub(o.Start).Seconds(), Restarted: true})
				t.open[o.Key()] = openEntry{End: o.End, State: "started"}
			}
		}
	}
	for _, o := range cands {
		if _, done := t.open[o.Key()]; done {
			continue
		}
		late := now.Sub(o.Start)
		d := Decision{Occurrence: o, LateS: late.Seconds()}
		switch {
		case late <= t.Grace && o.Open(now):
			d.Kind = KindStart
		case t.lateOK(o, now):
			d.Kind = KindLate
		default:
			d.Kind = KindMissed
		}
		state := "started"
		if d.Kind == KindMissed {
			state = "missed"
		}
		if o.End.After(now) {
			t.open[o.Key()] = openEntry{End: o.End, State: state}
		}
		r.Decisions = append(r.Decisions, d)
		r.Changed = true
	}
	slices.SortStableFunc(r.Decisions, func(a, b Decision) int { return occOrder(a.Occurrence, b.Occurrence) })
	for k, e := range t.open {
		if !e.End.After(now) {
			delete(t.open, k)
		}
	}
	if r.Changed || t.through.IsZero() || now.Before(t.through) {
		r.Changed = true
	}
	t.through = now.Truncate(time.Millisecond)
	return r
}

func (t *Tracker) lateOK(o Occurrence, now time.Time) bool {
	return o.Open(now) && o.End.Sub(now) >= max(t.MinLeft, time.Nanosecond)
}

// Ended records that the play item of an occurrence (its Key) ended, for
// whatever reason: after a restart it is not started again. It reports
// whether the state changed (persist it then).
func (t *Tracker) Ended(key string) bool {
	e, ok := t.open[key]
	if !ok || e.State != "started" {
		return false
	}
	e.State = "ended"
	t.open[key] = e
	return true
}

// Replace switches to a new schedule (schedule.set; Empty() for
// schedule.clear) at now. With a synchronised clock, the old schedule is
// first decided up to now (what it missed is reported), then the new one:
// its occurrences whose window is open start late, unless an occurrence
// with the same key was already decided. Occurrences of the new schedule
// that ended before now are not reported missed: they were not scheduled
// when they should have played. Without a synchronised clock the schedule
// is only swapped; the next Decide with a synchronised clock evaluates it.
func (t *Tracker) Replace(s *Schedule, now time.Time, clk ClockStatus) Result {
	if s == nil {
		s = Empty()
	}
	if clk != ClockSynced {
		t.s = s
		return Result{Held: string(ClockUnsynced), Changed: true}
	}
	r := t.Decide(now, clk)
	t.s = s
	r2 := t.Decide(now, clk)
	r.Decisions = append(r.Decisions, r2.Decisions...)
	r.Changed = true
	return r
}

// NextWake is when the agent should call Decide again: the next start
// after now. ok is false when nothing is scheduled again. The agent also
// calls Decide when the clock becomes synchronised, after Replace, and at
// start.
func (t *Tracker) NextWake(now time.Time) (time.Time, bool) {
	o, ok := t.s.Next(now)
	return o.Start, ok
}
