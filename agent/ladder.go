package agent

import (
	"cmp"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/audio/media"
)

// The priority ladder of protocol v1, from the bulletin classes of the
// commune radio regulation plus live relays and background audio.
type level int

const (
	levelBackground level = iota
	levelNormal
	levelPriority
	levelLive
	levelEmergency
)

var levelNames = []string{"background", "normal", "priority", "live", "emergency"}

func (l level) String() string { return levelNames[l] }

func parseLevel(s string) (level, bool) {
	i := slices.Index(levelNames, s)
	return level(i), i >= 0
}

// originRank orders the administrative level a live or commanded item
// comes from: inside one priority, province > district > commune > none.
func originRank(o string) int {
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

// item is one play request, from its command until it is logged ended.
type item struct {
	ID       string
	CmdID    string
	Source   string
	Level    level
	Origin   string
	Zones    []string
	Volume   *int
	Repeat   int
	Duration time.Duration
	Until    time.Time
	Chime    bool
	Seq      uint64
	// Front puts a replacement ahead of the items of its level that were
	// already waiting: "replace" means this one, now.
	Front bool
	// Played is how many samples (output format) of the item's own audio
	// have been heard, chime excluded: the resume point.
	Played  int64
	Resumes int
	Since   time.Time // when its audio first reached the sink (zero: not yet)
	Title   string
	// chimeLen is the chime's sample count in the run now playing.
	chimeLen int64
}

// resumable reports whether an interrupted item may come back: streams
// rejoin, files resume, tones restart where they were.
func (it *item) windowOpen(now time.Time) bool { return it.Until.IsZero() || now.Before(it.Until) }

// outranks reports whether a takes over from b at once: a higher level, or
// the same level from a higher administrative origin.
func outranks(a, b *item) bool {
	if a.Level != b.Level {
		return a.Level > b.Level
	}
	return originRank(a.Origin) > originRank(b.Origin)
}

// queueOrder sorts the queue: level, then origin, then interrupted items
// before new ones (they were there first), then arrival.
func queueOrder(a, b *item) int {
	if c := cmp.Compare(b.Level, a.Level); c != 0 {
		return c
	}
	if c := cmp.Compare(originRank(b.Origin), originRank(a.Origin)); c != 0 {
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

var (
	itemRE    = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)
	channelRE = regexp.MustCompile(`^[a-z0-9-]{3,64}$`) // the alphabet of ids and groups
)

// checkSource validates a play source before anything is opened, so a typo
// is a bad_args ack rather than a failure event later.
func checkSource(src string) error {
	scheme, rest, ok := strings.Cut(src, ":")
	if !ok {
		return fmt.Errorf("source %q has no scheme; use https://…, http://…, file:NAME, live:CHANNEL or tone:HZ", truncate(src, 80))
	}
	switch scheme {
	case "http", "https":
		if !strings.HasPrefix(rest, "//") || len(rest) < 3 {
			return fmt.Errorf("source %q is not a URL", truncate(src, 80))
		}
	case "file":
		if err := media.ValidName(rest); err != nil {
			return fmt.Errorf("file name %q: %v", truncate(rest, 80), err)
		}
	case "live":
		if !channelRE.MatchString(rest) {
			return fmt.Errorf("live channel %q must be 3-64 chars of a-z 0-9 -", truncate(rest, 80))
		}
	case "tone":
		hz, err := strconv.ParseFloat(rest, 64)
		if err != nil || hz < 20 || hz > 20000 {
			return fmt.Errorf("tone frequency %q must be 20..20000 Hz", truncate(rest, 20))
		}
	default:
		return fmt.Errorf("unknown source scheme %q; use https, http, file, live or tone", truncate(scheme, 20))
	}
	return nil
}

// SourceRequest asks the daemon's opener for an item's audio.
type SourceRequest struct {
	Source string
	Format audio.Format
	Item   string
	// Notify reports what happens to the source (a stream reconnecting, a
	// new title, a live channel gone silent) as an MQTT event; it may be
	// called from any goroutine until the source is closed.
	Notify func(kind string, data map[string]any)
}

// SourceOpener opens a play source in the output format. It runs in the
// player's reader goroutine and must honour ctx.
type SourceOpener func(ctx context.Context, req SourceRequest) (audio.Source, error)
