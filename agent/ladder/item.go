package ladder

import (
	"cmp"
	"slices"
	"time"
)

// Level is a rung of the priority ladder of protocol v1: the bulletin
// classes of the commune radio regulation (normal, priority, emergency)
// plus live relays and background audio.
type Level int

// The levels, lowest first.
const (
	Background Level = iota
	Normal
	Priority
	Live
	Emergency
)

// LevelNames are the wire names of the levels, lowest first.
var LevelNames = []string{"background", "normal", "priority", "live", "emergency"}

func (l Level) String() string {
	if l < 0 || int(l) >= len(LevelNames) {
		return "level(?)"
	}
	return LevelNames[l]
}

// ParseLevel reads a wire name.
func ParseLevel(s string) (Level, bool) {
	i := slices.Index(LevelNames, s)
	return Level(i), i >= 0
}

// OriginRank orders the administrative level an item comes from: inside
// one priority, province > district > commune > none.
func OriginRank(o string) int {
	switch o {
	case "province":
		return 3
	case "district":
		return 2
	case "commune":
		return 1
	}
	return 0
}

// Item is one play request, from its command until it is logged ended.
// The ladder reads Level, Origin, Seq, Front and Until; the sequencer reads
// Zones; the rest is the agent's, carried here so an item is one value.
type Item struct {
	ID       string
	CmdID    string
	Source   string
	Level    Level
	Origin   string
	Zones    []string
	Volume   *int
	Repeat   int
	Duration time.Duration
	// Until closes the item's window: it may start or resume only before
	// it. Zero: no window (it must start now or be refused).
	Until time.Time
	Chime bool
	// Seq orders arrivals (set by Queue.Offer).
	Seq uint64
	// Front puts a replacement ahead of the items of its level that were
	// already waiting: "replace" means this one, now.
	Front bool
	// Played is how many samples (output format) of the item's own audio
	// have been heard, chime excluded: the resume point.
	Played  int64
	Resumes int
	// Since is when its audio first reached the sink (zero: not yet);
	// RunStart when the current run of it did (zero between runs);
	// LastRun when the latest run did (kept for the playback log).
	Since, RunStart, LastRun time.Time
	Title                    string
	// ScheduleItem and Scheduled are set for an occurrence of the
	// broadcast schedule: its schedule item id and its window's start.
	ScheduleItem string
	Scheduled    time.Time
	// Instead is the source the schedule named when a fallback file
	// plays in its place (it was not in the media cache).
	Instead string
	// EndBy cuts the item at that time whatever is left of it: a
	// scheduled occurrence ends with its slot, also when an interruption
	// made it resume late. Zero: no cut.
	EndBy time.Time
	// InterruptedBy names what took the output from it last (an item id,
	// or why the agent stopped).
	InterruptedBy string
	// ChimeLen is the chime's sample count in the run now playing.
	ChimeLen int64
	// Sync asks for synchronised live play-out; SyncOff says why the
	// item plays without it ("" while it plays in step).
	Sync    bool
	SyncOff string
	// SyncDelayMS is the delay it plays at when in step.
	SyncDelayMS int
}

// WindowOpen reports whether the item may still start or resume at now.
func (it *Item) WindowOpen(now time.Time) bool { return it.Until.IsZero() || now.Before(it.Until) }

// Outranks reports whether a takes over from b at once: a higher level, or
// the same level from a higher administrative origin.
func Outranks(a, b *Item) bool {
	if a.Level != b.Level {
		return a.Level > b.Level
	}
	return OriginRank(a.Origin) > OriginRank(b.Origin)
}

// order sorts waiting items: level, then origin, then replacements and
// interrupted items before new ones (they were there first), then arrival.
func order(a, b *Item) int {
	if c := cmp.Compare(b.Level, a.Level); c != 0 {
		return c
	}
	if c := cmp.Compare(OriginRank(b.Origin), OriginRank(a.Origin)); c != 0 {
		return c
	}
	if a.Front != b.Front {
		if a.Front {
			return -1
		}
		return 1
	}
	return cmp.Compare(a.Seq, b.Seq)
}
