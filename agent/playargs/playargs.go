package playargs

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/audio/media"
)

// Play is the argument object of the play command. A scheduled occurrence
// turns into one (schedule's Occurrence.Play), so the agent offers it to
// the ladder as it would a command, checked by the same rules.
type Play struct {
	Source    string   `json:"source"`
	Priority  string   `json:"priority,omitempty"`
	Origin    string   `json:"origin,omitempty"`
	Zones     []string `json:"zones,omitempty"`
	Volume    *int     `json:"volume,omitempty"`
	Repeat    int      `json:"repeat,omitempty"`
	DurationS float64  `json:"duration_s,omitempty"`
	Until     int64    `json:"until,omitempty"`
	Replace   bool     `json:"replace,omitempty"`
	Chime     *bool    `json:"chime,omitempty"`
	Item      string   `json:"item,omitempty"`
	// Sync plays a live item in step with the other poles (absent: the
	// pole's audio.sync_channels decide).
	Sync *bool `json:"sync,omitempty"`
}

// Levels are the priority names of the ladder, lowest first.
var Levels = []string{"background", "normal", "priority", "live", "emergency"}

// Origins are the administrative origins, lowest rank first.
var Origins = []string{"commune", "district", "province"}

// FieldError is one rejected argument: Field is its JSON name, Msg says
// what was wrong and what was expected, naming the field.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Msg }

func fieldErr(field, format string, a ...any) *FieldError {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, a...)}
}

var (
	itemRE    = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)
	channelRE = regexp.MustCompile(`^[a-z0-9-]{3,64}$`)
)

// Check applies the play command's argument checks to p: item id, source
// (scheme and form), priority (empty means normal), origin, volume,
// repeat, duration_s, until (only when p.Until is set; now is the agent's
// time) and zones (each must be one of zones; a nil zones skips that
// check, as when a stored schedule is loaded before the configuration is
// known). It returns the first problem, or nil. The play command and the
// schedule both use it, so they cannot drift apart. What depends on the
// agent's state (an item id in use, the live channels) is the agent's.
func Check(p *Play, zones []string, now time.Time) *FieldError {
	if p.Item != "" && !itemRE.MatchString(p.Item) {
		return fieldErr("item", "item %q must be 1-64 chars of A-Z a-z 0-9 . _ : -", wire.Truncate(p.Item, 80))
	}
	if p.Source == "" {
		return fieldErr("source", `"source" is required`)
	}
	if err := CheckSource(p.Source); err != nil {
		return fieldErr("source", "%v", err)
	}
	if p.Sync != nil && *p.Sync && !strings.HasPrefix(p.Source, "live:") {
		return fieldErr("sync", `"sync" applies to live:CHANNEL sources only; %q is not one`, wire.Truncate(p.Source, 80))
	}
	if p.Priority != "" && !slices.Contains(Levels, p.Priority) {
		return fieldErr("priority", "priority %q must be one of %v", wire.Truncate(p.Priority, 20), Levels)
	}
	if p.Origin != "" && !slices.Contains(Origins, p.Origin) {
		return fieldErr("origin", `origin %q must be "province", "district" or "commune"`, wire.Truncate(p.Origin, 20))
	}
	if p.Volume != nil && (*p.Volume < 0 || *p.Volume > 100) {
		return fieldErr("volume", "volume must be 0..100, got %d", *p.Volume)
	}
	if p.Repeat < 0 || p.Repeat > 1000 {
		return fieldErr("repeat", "repeat must be 0..1000, got %d", p.Repeat)
	}
	if p.DurationS < 0 || p.DurationS > 86400 {
		return fieldErr("duration_s", "duration_s must be 0..86400, got %g", p.DurationS)
	}
	if p.Until != 0 && !now.Before(time.UnixMilli(p.Until)) {
		return fieldErr("until", "until (%d) has passed: the item may no longer start", p.Until)
	}
	if p.Zones != nil {
		if zones != nil {
			for _, z := range p.Zones {
				if !slices.Contains(zones, z) {
					return fieldErr("zones", "unknown zone %q; this pole has %v", wire.Truncate(z, 32), zones)
				}
			}
		}
		if len(p.Zones) == 0 {
			return fieldErr("zones", `"zones" is empty: give at least one zone, or leave it out for all`)
		}
	}
	return nil
}

// CheckSource validates a play source before anything is opened, so a typo
// is a bad_args answer rather than a failure event later.
func CheckSource(src string) error {
	scheme, rest, ok := strings.Cut(src, ":")
	if !ok {
		return fmt.Errorf("source %q has no scheme; use https://…, http://…, file:NAME, live:CHANNEL or tone:HZ", wire.Truncate(src, 80))
	}
	switch scheme {
	case "http", "https":
		if !strings.HasPrefix(rest, "//") || len(rest) < 3 {
			return fmt.Errorf("source %q is not a URL", wire.Truncate(src, 80))
		}
	case "file":
		if err := media.ValidName(rest); err != nil {
			return fmt.Errorf("file name %q: %v", wire.Truncate(rest, 80), err)
		}
	case "live":
		if !channelRE.MatchString(rest) {
			return fmt.Errorf("live channel %q must be 3-64 chars of a-z 0-9 -", wire.Truncate(rest, 80))
		}
	case "tone":
		hz, err := strconv.ParseFloat(rest, 64)
		if err != nil || !(hz >= 20 && hz <= 20000) { // NaN fails both
			return fmt.Errorf("tone frequency %q must be 20..20000 Hz", wire.Truncate(rest, 20))
		}
	default:
		return fmt.Errorf("unknown source scheme %q; use https, http, file, live or tone", wire.Truncate(scheme, 20))
	}
	return nil
}
