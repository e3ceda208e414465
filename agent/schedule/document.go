package schedule

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/loaxa/loaxa/agent/playargs"
	"github.com/loaxa/loaxa/agent/wire"
)

// Bounds of a schedule document. A schedule.set command is also bound by
// the 64 KiB MQTT payload limit, which holds about 300 typical items; the
// item bound is for documents the agent loads from disk or receives by
// other means, and for the cost of evaluation (see the benchmarks).
const (
	// DefaultTZ is the zone of a document without "tz".
	DefaultTZ = "Asia/Ho_Chi_Minh"
	// MaxItems is the largest number of items in a document.
	MaxItems = 1000
	// MaxIDLen is the longest item id: the id of an occurrence's play item
	// is the item id, ':' and the date (11 more characters), and must fit
	// the 64 characters of a play item id.
	MaxIDLen = 48
	// MaxVersionLen is the longest version label.
	MaxVersionLen = 64
	// MaxDates is the largest number of dates of one item (a year's worth).
	MaxDates = 366
	// MaxURLLen is the longest media URL.
	MaxURLLen = 2048
	// MaxDocBytes is the largest document Parse reads.
	MaxDocBytes = 1 << 20
	// MaxDuration is the longest window of an item, the bound of play's
	// duration_s.
	MaxDuration = 86400 * time.Second
	// maxProblems is how many problems an error lists before "and N more".
	maxProblems = 10
	// minYear and maxYear bound the dates an item may name.
	minYear, maxYear = 2000, 2199
)

// Document is the schedule as the protocol carries it: the args of
// schedule.set and the result of schedule.get.
type Document struct {
	// Version is the operator's label for this schedule, 1 to 64
	// characters of A-Z a-z 0-9 . _ : -.
	Version string `json:"version"`
	// TZ is the IANA zone the items' times are in; DefaultTZ when absent.
	TZ string `json:"tz,omitempty"`
	// Items may be empty: a schedule with nothing to play.
	Items []Item `json:"items"`
}

// Item is one entry of the schedule: when it plays and what.
type Item struct {
	// ID names the item, unique in the document: 1 to MaxIDLen characters
	// of A-Z a-z 0-9 . _ : -.
	ID string `json:"id"`
	// Days are the weekdays it occurs on: mon tue wed thu fri sat sun.
	Days []string `json:"days,omitempty"`
	// Dates are the calendar dates it occurs on, YYYY-MM-DD, in addition
	// to its days.
	Dates []string `json:"dates,omitempty"`
	// Start is the local time of day it starts, HH:MM or HH:MM:SS.
	Start string `json:"start"`
	// End is the local time of day it ends (HH:MM or HH:MM:SS); at or
	// before Start, the next day. Exactly one of End and DurationS is given.
	End string `json:"end,omitempty"`
	// DurationS is the length of its window in seconds, up to 86400.
	DurationS float64 `json:"duration_s,omitempty"`
	// Source is what plays, as in the play command.
	Source string `json:"source"`
	// SHA256 and URL, given together and only for a file:NAME source, say
	// where the file comes from and what it must hash to: the agent fetches
	// it ahead of its air time.
	SHA256 string `json:"sha256,omitempty"`
	URL    string `json:"url,omitempty"`
	// The rest is as in the play command.
	Priority string   `json:"priority,omitempty"`
	Origin   string   `json:"origin,omitempty"`
	Zones    []string `json:"zones,omitempty"`
	Volume   *int     `json:"volume,omitempty"`
	Repeat   int      `json:"repeat,omitempty"`
	Replace  bool     `json:"replace,omitempty"`
	Chime    *bool    `json:"chime,omitempty"`
}

// Problem is one reason a document was refused.
type Problem struct {
	// Index is the item's position in "items", or -1 for the document.
	Index int
	// ID is the item's id, when it has a readable one.
	ID string
	// Field is the JSON name of the field at fault ("start", "zones[1]"),
	// or "" for the item or document as a whole.
	Field string
	// Msg says what was wrong and what was expected.
	Msg string
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Index >= 0 {
		fmt.Fprintf(&b, "items[%d]", p.Index)
		if p.ID != "" {
			fmt.Fprintf(&b, " (id %q)", wire.Truncate(p.ID, MaxIDLen+2))
		}
		b.WriteString(": ")
	}
	if p.Field != "" && !strings.Contains(p.Msg, p.Field) {
		b.WriteString(p.Field + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// ValidationError refuses a whole document. Its message lists up to ten
// problems, each naming the item and field.
type ValidationError struct {
	Problems []Problem
	// More counts the problems not listed.
	More int
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	msg := "schedule refused: " + strings.Join(parts, "; ")
	if e.More > 0 {
		msg += fmt.Sprintf("; and %d more", e.More)
	}
	return msg
}

// problems collects the problems of one document.
type problems struct{ e ValidationError }

func (ps *problems) add(index int, id, field, format string, a ...any) {
	if len(ps.e.Problems) >= maxProblems {
		ps.e.More++
		return
	}
	ps.e.Problems = append(ps.e.Problems, Problem{Index: index, ID: id, Field: field, Msg: fmt.Sprintf(format, a...)})
}

func (ps *problems) err() error {
	if len(ps.e.Problems) == 0 {
		return nil
	}
	e := ps.e
	return &e
}

// Options are what Parse needs to know about the pole.
type Options struct {
	// Zones are the pole's zone names; items may only name these. Nil
	// skips that check: when a stored schedule is loaded, a zone removed
	// from the configuration since must not lose the whole schedule (the
	// item fails when it plays, saying why).
	Zones []string
}

var (
	versionRE = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)
	idRE      = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,48}$`)
	sha256RE  = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)
	dayNames  = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"} // index = time.Weekday
)

// Parse decodes and validates a schedule document. Every problem is
// reported in a *ValidationError (a document that is not JSON, or not an
// object, is one too); nothing of an invalid document is kept.
func Parse(data []byte, opts Options) (*Schedule, error) {
	var ps problems
	doc, raws := decode(data, &ps)
	if err := ps.err(); err != nil {
		return nil, err
	}
	return compileDoc(doc, raws, opts, &ps)
}

// New validates a document built in Go (by a test or a tool) as Parse
// would, with the document's own JSON form.
func New(doc Document, opts Options) (*Schedule, error) {
	data, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("schedule: %w", err)
	}
	return Parse(data, opts)
}

// decode reads the document strictly. raws are the items' own JSON, for
// reading the id of an item whose fields do not decode.
func decode(data []byte, ps *problems) (Document, []json.RawMessage) {
	var doc Document
	if len(data) > MaxDocBytes {
		ps.add(-1, "", "", "the document is %d bytes, at most %d", len(data), MaxDocBytes)
		return doc, nil
	}
	if !utf8.Valid(data) {
		ps.add(-1, "", "", "the document is not valid UTF-8")
		return doc, nil
	}
	if err := checkStructure(data); err != nil {
		var dup *dupKeyError
		if errors.As(err, &dup) {
			i, field := dup.path.itemIndex()
			ps.add(i, "", field, "%v", err)
			return doc, nil
		}
		ps.add(-1, "", "", "%v", err)
		return doc, nil
	}
	var top struct {
		Version *string            `json:"version"`
		TZ      *string            `json:"tz"`
		Items   *[]json.RawMessage `json:"items"`
	}
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) || bytes.TrimSpace(data)[0] != '{' {
		ps.add(-1, "", "", `the document must be a JSON object {"version","tz","items"}`)
		return doc, nil
	}
	if err := strictUnmarshal(data, &top); err != nil {
		field, msg := explain(err, "version, tz, items")
		ps.add(-1, "", field, "%s", msg)
		return doc, nil
	}
	if top.Version != nil {
		doc.Version = *top.Version
	}
	if top.TZ != nil {
		doc.TZ = *top.TZ
	}
	if top.Items == nil {
		ps.add(-1, "", "items", `"items" is required (a list, empty for a schedule with nothing to play)`)
		return doc, nil
	}
	raws := *top.Items
	if len(raws) > MaxItems {
		ps.add(-1, "", "items", "%d items, at most %d", len(raws), MaxItems)
		return doc, nil
	}
	doc.Items = make([]Item, len(raws))
	for i, raw := range raws {
		if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			ps.add(i, "", "", "an item must be an object, got null")
			continue
		}
		if err := strictUnmarshal(raw, &doc.Items[i]); err != nil {
			field, msg := explain(err, "id, days, dates, start, end, duration_s, source, sha256, url, priority, origin, zones, volume, repeat, replace, chime")
			ps.add(i, peekID(raw), field, "%s", msg)
		}
	}
	return doc, raws
}

func strictUnmarshal(data []byte, dst any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	return d.Decode(dst)
}

// explain turns an encoding/json error into a field and a message for
// people.
func explain(err error, allowed string) (field, msg string) {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field = te.Field
		if field == "" {
			return "", fmt.Sprintf("must be an object, got %s", te.Value)
		}
		return field, fmt.Sprintf("%s must be %s, got %s", field, kindName(te.Type.String()), te.Value)
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return strings.Trim(name, `"`), fmt.Sprintf("unknown field %s; the fields are %s", name, allowed)
	}
	return "", err.Error()
}

func kindName(goType string) string {
	switch goType {
	case "string":
		return "a string"
	case "int", "int64":
		return "an integer"
	case "float64":
		return "a number"
	case "bool":
		return "true or false"
	case "[]string":
		return "a list of strings"
	case "[]json.RawMessage", "[]schedule.Item":
		return "a list"
	}
	return goType
}

// peekID reads an item's id for an error message when the item as a whole
// does not decode.
func peekID(raw json.RawMessage) string {
	var v struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(raw, &v) != nil || !idRE.MatchString(v.ID) {
		return ""
	}
	return v.ID
}

// validate checks a decoded document as a whole and adds every problem.
func validate(doc *Document, opts Options, ps *problems) *time.Location {
	if !versionRE.MatchString(doc.Version) {
		ps.add(-1, "", "version", "version %q must be 1-%d chars of A-Z a-z 0-9 . _ : -", wire.Truncate(doc.Version, 80), MaxVersionLen)
	}
	loc := time.UTC
	if doc.TZ == "" {
		doc.TZ = DefaultTZ
	}
	if l, err := loadZone(doc.TZ); err != nil {
		ps.add(-1, "", "tz", "%v", err)
	} else {
		loc = l
	}
	ids := map[string]int{}
	files := map[string]int{} // file name → index of the first item fetching it
	for i := range doc.Items {
		it := &doc.Items[i]
		add := func(field, format string, a ...any) { ps.add(i, it.ID, field, format, a...) }
		if !idRE.MatchString(it.ID) {
			add("id", "id %q must be 1-%d chars of A-Z a-z 0-9 . _ : -", wire.Truncate(it.ID, 80), MaxIDLen)
		} else if j, dup := ids[it.ID]; dup {
			add("id", "id %q is already the id of items[%d]", it.ID, j)
		} else {
			ids[it.ID] = i
		}
		validateWhen(it, add)
		p := it.play()
		if fe := playargs.Check(&p, opts.Zones, time.Time{}); fe != nil {
			add(fe.Field, "%s", fe.Msg)
		}
		validateMedia(doc, i, files, add)
	}
	return loc
}

// validateWhen checks days, dates, start, end and duration_s.
func validateWhen(it *Item, add func(field, format string, a ...any)) {
	if len(it.Days) == 0 && len(it.Dates) == 0 {
		add("", `give "days" and/or "dates": the item never occurs`)
	}
	if len(it.Days) > 7 {
		add("days", "%d days, at most the 7 of a week", len(it.Days))
	} else {
		for k, d := range it.Days {
			switch {
			case !slices.Contains(dayNames, d):
				add(fmt.Sprintf("days[%d]", k), "day %q must be one of mon tue wed thu fri sat sun", wire.Truncate(d, 12))
			case slices.Index(it.Days, d) < k:
				add(fmt.Sprintf("days[%d]", k), "day %q is listed twice", d)
			}
		}
	}
	if len(it.Dates) > MaxDates {
		add("dates", "%d dates, at most %d", len(it.Dates), MaxDates)
	} else {
		for k, d := range it.Dates {
			if _, err := parseDate(d); err != nil {
				add(fmt.Sprintf("dates[%d]", k), "%v", err)
			} else if slices.Index(it.Dates, d) < k {
				add(fmt.Sprintf("dates[%d]", k), "date %q is listed twice", d)
			}
		}
	}
	start, err := parseClock(it.Start)
	if err != nil {
		add("start", "start %v", err)
	}
	switch {
	case it.End != "" && it.DurationS != 0:
		add("end", `give "duration_s" or "end", not both`)
	case it.End == "" && it.DurationS == 0:
		add("duration_s", `give "duration_s" or "end": a scheduled item needs a window (it may start late only within it)`)
	case it.End != "":
		end, err := parseClock(it.End)
		if err != nil {
			add("end", "end %v", err)
		} else if end == start && it.Start != "" {
			add("end", "end %q equals start: the window would be empty (an end before the start, as start 23:30 end 00:30, ends the next day)", it.End)
		}
	case it.DurationS < 0 || it.DurationS > 86400:
		// CheckPlay reports it with play's message.
	case it.DurationS < 1:
		add("duration_s", "duration_s must be at least 1 second, got %g", it.DurationS)
	}
}

// validateMedia checks sha256 and url: together, for a file: source, and
// one content per file name across the document.
func validateMedia(doc *Document, i int, files map[string]int, add func(field, format string, a ...any)) {
	it := &doc.Items[i]
	if it.SHA256 == "" && it.URL == "" {
		return
	}
	name, isFile := strings.CutPrefix(it.Source, "file:")
	switch {
	case !isFile:
		add("url", `"url" and "sha256" are for a file:NAME source (the file the pole fetches ahead); source %q plays directly`, wire.Truncate(it.Source, 80))
		return
	case it.SHA256 == "":
		add("sha256", `"url" needs "sha256": a fetched file is kept only if its hash matches`)
		return
	case it.URL == "":
		add("url", `"sha256" needs "url": where to fetch %s from`, wire.Truncate(name, 80))
		return
	}
	if !sha256RE.MatchString(it.SHA256) {
		add("sha256", "sha256 must be 64 hex digits, got %q", wire.Truncate(it.SHA256, 80))
		return
	}
	it.SHA256 = strings.ToLower(it.SHA256)
	if err := CheckURL(it.URL); err != nil {
		add("url", "%v", err)
		return
	}
	if j, seen := files[name]; seen {
		first := doc.Items[j]
		if first.SHA256 != it.SHA256 {
			add("sha256", "file %s has sha256 %s… here but %s… in items[%d]: one name, one content", name, it.SHA256[:12], first.SHA256[:12], j)
		}
		return
	}
	files[name] = i
}

// vietnam is DefaultTZ without a database lookup: Vietnam has kept UTC+7
// without daylight saving since 1975, and dates before 2000 are refused.
var vietnam = time.FixedZone(DefaultTZ, 7*3600)

// loadZone returns the zone of a document. DefaultTZ needs no database;
// another zone is read from the system's database, or from the copy
// embedded in the binary when the pole has none.
func loadZone(name string) (*time.Location, error) {
	if name == DefaultTZ {
		return vietnam, nil
	}
	if name == "Local" || name == "" || len(name) > 64 {
		return nil, fmt.Errorf("tz %q must name an IANA zone such as %q (\"Local\" is refused: the pole's own setting must not move the schedule)", wire.Truncate(name, 70), DefaultTZ)
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("tz %q is not a known IANA zone (such as %q)", wire.Truncate(name, 70), DefaultTZ)
	}
	return l, nil
}

// CheckURL validates a media URL: http or https, with a host, at most
// MaxURLLen characters.
func CheckURL(u string) error {
	if len(u) > MaxURLLen {
		return fmt.Errorf("url is %d characters, at most %d", len(u), MaxURLLen)
	}
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return fmt.Errorf("url must be an http:// or https:// URL with a host")
	}
	return nil
}

// play is the item's play arguments, for CheckPlay and for the ladder.
func (it *Item) play() playargs.Play {
	return playargs.Play{Source: it.Source, Priority: it.Priority, Origin: it.Origin, Zones: it.Zones,
		Volume: it.Volume, Repeat: it.Repeat, DurationS: it.DurationS, Replace: it.Replace, Chime: it.Chime}
}

// parseClock reads HH:MM or HH:MM:SS into seconds after midnight.
func parseClock(s string) (int, error) {
	bad := fmt.Errorf("%q must be HH:MM or HH:MM:SS, from 00:00 to 23:59:59", wire.Truncate(s, 20))
	if len(s) != 5 && len(s) != 8 {
		return 0, bad
	}
	num := func(i, max int) (int, bool) {
		a, b := s[i], s[i+1]
		if a < '0' || a > '9' || b < '0' || b > '9' {
			return 0, false
		}
		n := int(a-'0')*10 + int(b-'0')
		return n, n <= max
	}
	h, ok1 := num(0, 23)
	m, ok2 := num(3, 59)
	sec, ok3 := 0, true
	if len(s) == 8 {
		if s[5] != ':' {
			return 0, bad
		}
		sec, ok3 = num(6, 59)
	}
	if s[2] != ':' || !ok1 || !ok2 || !ok3 {
		return 0, bad
	}
	return h*3600 + m*60 + sec, nil
}

// parseDate reads YYYY-MM-DD.
func parseDate(s string) (civil, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil || len(s) != 10 {
		return 0, fmt.Errorf("date %q must be YYYY-MM-DD, a real calendar date", wire.Truncate(s, 20))
	}
	if t.Year() < minYear || t.Year() > maxYear {
		return 0, fmt.Errorf("date %q must be in the years %d to %d", s, minYear, maxYear)
	}
	return civilOf(t.Date()), nil
}
