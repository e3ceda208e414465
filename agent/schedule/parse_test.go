package schedule

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/loaxa/loaxa/agent/playargs"
)

const sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

// issueDoc is the example of issue 9, with a real hash and URLs.
const issueDoc = `{"version":"2026-12-01a","tz":"Asia/Ho_Chi_Minh","items":[
 {"id":"thoi-su-sang","days":["mon","tue","wed","thu","fri","sat","sun"],
  "start":"06:00","duration_s":1800,"source":"file:thoi-su.mp3","sha256":"` + sha + `",
  "url":"https://media.example.vn/thoi-su.mp3","priority":"normal","zones":["z1","z2"],"volume":70},
 {"id":"phat-thanh-tinh","dates":["2026-12-01"],"start":"17:30:00","end":"18:00:00",
  "source":"http://radio.example.vn/tinh.mp3","priority":"priority","origin":"province"}]}`

var poleZones = []string{"z1", "z2", "z3", "z4"}

func TestParseIssueExample(t *testing.T) {
	s, err := Parse([]byte(issueDoc), Options{Zones: poleZones})
	if err != nil {
		t.Fatal(err)
	}
	if s.Version() != "2026-12-01a" || s.Len() != 2 || s.Location().String() != "Asia/Ho_Chi_Minh" {
		t.Fatalf("version %q, %d items, zone %v", s.Version(), s.Len(), s.Location())
	}
	// Round trip: what schedule.get answers parses to the same document.
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse(data, Options{Zones: poleZones})
	if err != nil {
		t.Fatalf("the stored form does not parse: %v\n%s", err, data)
	}
	a, _ := json.Marshal(again)
	if string(a) != string(data) {
		t.Errorf("round trip changed the document:\n%s\n%s", data, a)
	}
}

func TestParseDefaults(t *testing.T) {
	s, err := Parse([]byte(`{"version":"v1","items":[{"id":"a","days":["mon"],"start":"05:30","duration_s":60,"source":"FILE_SRC","sha256":"`+strings.ToUpper(sha)+`","url":"http://x.vn/a.mp3"}]}`), Options{})
	if err == nil {
		t.Fatal("a source without a scheme was accepted")
	}
	s, err = Parse([]byte(`{"version":"v1","items":[{"id":"a","days":["mon"],"start":"05:30","duration_s":60,"source":"file:a.mp3","sha256":"`+strings.ToUpper(sha)+`","url":"http://x.vn/a.mp3"}]}`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	doc := s.Doc()
	if doc.TZ != DefaultTZ || doc.Items[0].SHA256 != sha {
		t.Errorf("tz %q, sha256 %q: want the default zone and the hash in lower case", doc.TZ, doc.Items[0].SHA256)
	}
	if _, err := Parse([]byte(`{"version":"v1","tz":"UTC","items":[]}`), Options{}); err != nil {
		t.Errorf("an empty schedule in UTC: %v", err)
	}
}

// item is a valid item with one field replaced (or removed with "-").
func item(id string, kv ...string) string {
	fields := map[string]string{
		"id": `"` + id + `"`, "days": `["mon","fri"]`, "start": `"05:30"`, "duration_s": `3600`,
		"source": `"file:tin.mp3"`,
	}
	order := []string{"id", "days", "start", "duration_s", "source"}
	for i := 0; i+1 < len(kv); i += 2 {
		if _, ok := fields[kv[i]]; !ok {
			order = append(order, kv[i])
		}
		fields[kv[i]] = kv[i+1]
	}
	var parts []string
	for _, k := range order {
		if fields[k] != "-" {
			parts = append(parts, fmt.Sprintf("%q:%s", k, fields[k]))
		}
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func doc(items ...string) string {
	return `{"version":"v1","items":[` + strings.Join(items, ",") + `]}`
}

func TestParseRejects(t *testing.T) {
	many := make([]string, MaxItems+1)
	for i := range many {
		many[i] = item(fmt.Sprintf("i%d", i))
	}
	dates := make([]string, MaxDates+1)
	for i := range dates {
		dates[i] = `"` + time.Date(2027, 1, 1+i, 0, 0, 0, 0, time.UTC).Format(time.DateOnly) + `"`
	}
	tests := []struct {
		name, doc string
		want      []string // all must appear in the message
	}{
		// The document.
		{"not json", `{"version":`, []string{"not valid JSON"}},
		{"not an object", `[1,2]`, []string{"must be a JSON object"}},
		{"null", `null`, []string{"must be a JSON object"}},
		{"trailing data", doc() + `{}`, []string{"trailing data"}},
		{"unknown top field", `{"version":"v1","items":[],"owner":"x"}`, []string{`unknown field "owner"`, "version, tz, items"}},
		{"duplicate top key", `{"version":"v1","version":"v2","items":[]}`, []string{`key "version" is given twice`}},
		{"no items", `{"version":"v1"}`, []string{`"items" is required`}},
		{"items not a list", `{"version":"v1","items":{}}`, []string{"items must be", "a list"}},
		{"no version", `{"items":[]}`, []string{"version", "must be 1-64 chars"}},
		{"version bad chars", `{"version":"v 1","items":[]}`, []string{`version "v 1"`}},
		{"version type", `{"version":7,"items":[]}`, []string{"version must be a string, got number"}},
		{"bad tz", `{"version":"v1","tz":"Asia/Hanoi-ish","items":[]}`, []string{"tz", "not a known IANA zone"}},
		{"local tz", `{"version":"v1","tz":"Local","items":[]}`, []string{`"Local" is refused`}},
		{"path tz", `{"version":"v1","tz":"../../etc/passwd","items":[]}`, []string{"not a known IANA zone"}},
		{"too many items", doc(many...), []string{"1001 items, at most 1000"}},
		{"too deep", `{"version":"v1","items":[{"id":[[[[[[[[1]]]]]]]]}]}`, []string{"nested deeper"}},
		{"too big", `{"version":"` + strings.Repeat("x", MaxDocBytes) + `"}`, []string{"at most 1048576"}},
		{"not utf-8", "{\"version\":\"\xff\",\"items\":[]}", []string{"UTF-8"}},
		// An item's shape.
		{"item null", doc(`null`), []string{"items[0]", "must be an object"}},
		{"item not object", doc(`"x"`), []string{"items[0]", "must be an object"}},
		{"unknown item field", doc(item("a", "colour", `"red"`)), []string{`items[0] (id "a")`, `unknown field "colour"`}},
		{"until is not schedulable", doc(item("a", "until", `1`)), []string{`unknown field "until"`}},
		{"duplicate item key", doc(item("a"), `{"id":"b","start":"05:30","start":"06:00"}`), []string{`items[1]: key "start" is given twice`}},
		{"duplicate nested key", doc(`{"id":"b","x":{"k":1,"k":2}}`), []string{`items[0]: x.k: key "k" is given twice`}},
		{"wrong type volume", doc(item("a", "volume", `"loud"`)), []string{`items[0] (id "a")`, "volume must be an integer, got string"}},
		{"fractional volume", doc(item("a", "volume", `70.5`)), []string{"volume must be an integer, got number 70.5"}},
		{"wrong type days", doc(item("a", "days", `"mon"`)), []string{"days must be a list of strings, got string"}},
		{"wrong type day", doc(item("a", "days", `["mon",1]`)), []string{"days must be a string, got number"}},
		// id.
		{"empty id", doc(item("")), []string{"items[0]", `id "" must be 1-48 chars`}},
		{"long id", doc(item(strings.Repeat("a", 49))), []string{"must be 1-48 chars"}},
		{"id with space", doc(item("thoi su")), []string{`id "thoi su"`}},
		{"duplicate id", doc(item("a"), item("b"), item("a")), []string{`items[2] (id "a")`, "already the id of items[0]"}},
		// When.
		{"never occurs", doc(item("a", "days", "-")), []string{`items[0] (id "a")`, `give "days" and/or "dates"`}},
		{"bad day", doc(item("a", "days", `["monday"]`)), []string{"days[0]", `day "monday" must be one of`}},
		{"upper day", doc(item("a", "days", `["Mon"]`)), []string{`day "Mon"`}},
		{"day twice", doc(item("a", "days", `["mon","tue","mon"]`)), []string{"days[2]", "listed twice"}},
		{"eight days", doc(item("a", "days", `["mon","tue","wed","thu","fri","sat","sun","mon"]`)), []string{"8 days"}},
		{"bad date", doc(item("a", "dates", `["2026-02-30"]`)), []string{"dates[0]", "a real calendar date"}},
		{"date format", doc(item("a", "dates", `["1/12/2026"]`)), []string{"must be YYYY-MM-DD"}},
		{"date year", doc(item("a", "dates", `["1999-12-31"]`)), []string{"years 2000 to 2199"}},
		{"date twice", doc(item("a", "dates", `["2026-12-01","2026-12-01"]`)), []string{"dates[1]", "listed twice"}},
		{"too many dates", doc(item("a", "dates", "["+strings.Join(dates, ",")+"]")), []string{"367 dates, at most 366"}},
		{"no start", doc(item("a", "start", "-")), []string{"start", `"" must be HH:MM`}},
		{"start 24:00", doc(item("a", "start", `"24:00"`)), []string{`start "24:00" must be HH:MM or HH:MM:SS`}},
		{"start 5:30", doc(item("a", "start", `"5:30"`)), []string{`start "5:30"`}},
		{"start seconds 60", doc(item("a", "start", `"05:30:60"`)), []string{`start "05:30:60"`}},
		{"start with zone", doc(item("a", "start", `"05:30Z"`)), []string{`start "05:30Z"`}},
		{"no window", doc(item("a", "duration_s", "-")), []string{"duration_s", `give "duration_s" or "end"`}},
		{"both windows", doc(item("a", "end", `"06:00"`)), []string{"end", "not both"}},
		{"bad end", doc(item("a", "duration_s", "-", "end", `"18h"`)), []string{`end "18h" must be HH:MM`}},
		{"empty window", doc(item("a", "duration_s", "-", "end", `"05:30:00"`)), []string{`end "05:30:00" equals start`}},
		{"negative duration", doc(item("a", "duration_s", `-5`)), []string{"duration_s must be 0..86400, got -5"}},
		{"duration over a day", doc(item("a", "duration_s", `86401`)), []string{"duration_s must be 0..86400, got 86401"}},
		{"tiny duration", doc(item("a", "duration_s", `0.5`)), []string{"at least 1 second"}},
		// playargs.Play fields: play's own messages.
		{"no source", doc(item("a", "source", "-")), []string{`items[0] (id "a")`, `"source" is required`}},
		{"source scheme", doc(item("a", "source", `"ftp://x/y.mp3"`)), []string{`unknown source scheme "ftp"`}},
		{"source path", doc(item("a", "source", `"file:../etc/passwd"`)), []string{`file name "../etc/passwd"`}},
		{"source tone", doc(item("a", "source", `"tone:5"`)), []string{"tone frequency \"5\" must be 20..20000 Hz"}},
		{"priority", doc(item("a", "priority", `"urgent"`)), []string{`priority "urgent" must be one of [background normal priority live emergency]`}},
		{"origin", doc(item("a", "origin", `"nation"`)), []string{`origin "nation" must be "province", "district" or "commune"`}},
		{"volume", doc(item("a", "volume", `140`)), []string{"volume must be 0..100, got 140"}},
		{"repeat", doc(item("a", "repeat", `1001`)), []string{"repeat must be 0..1000, got 1001"}},
		{"unknown zone", doc(item("a", "zones", `["z1","z9"]`)), []string{`unknown zone "z9"; this pole has [z1 z2 z3 z4]`}},
		{"empty zones", doc(item("a", "zones", `[]`)), []string{`"zones" is empty`}},
		// Media.
		{"url without sha", doc(item("a", "url", `"https://x.vn/tin.mp3"`)), []string{"sha256", `"url" needs "sha256"`}},
		{"sha without url", doc(item("a", "sha256", `"`+sha+`"`)), []string{`"sha256" needs "url"`}},
		{"url on a stream", doc(item("a", "source", `"https://x.vn/live"`, "url", `"https://x.vn/tin.mp3"`, "sha256", `"`+sha+`"`)), []string{"are for a file:NAME source"}},
		{"bad sha", doc(item("a", "url", `"https://x.vn/tin.mp3"`, "sha256", `"abc"`)), []string{`sha256 must be 64 hex digits, got "abc"`}},
		{"ftp url", doc(item("a", "url", `"ftp://x.vn/tin.mp3"`, "sha256", `"`+sha+`"`)), []string{"url must be an http:// or https:// URL"}},
		{"long url", doc(item("a", "url", `"https://x.vn/`+strings.Repeat("a", MaxURLLen)+`"`, "sha256", `"`+sha+`"`)), []string{"at most 2048"}},
		{"one name two contents", doc(
			item("a", "url", `"https://x.vn/tin.mp3"`, "sha256", `"`+sha+`"`),
			item("b", "url", `"https://x.vn/tin2.mp3"`, "sha256", `"`+strings.Repeat("0", 64)+`"`)),
			[]string{`items[1] (id "b")`, "file tin.mp3 has sha256 000000000000… here but 9f86d081884c… in items[0]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse([]byte(tt.doc), Options{Zones: poleZones})
			if err == nil {
				t.Fatalf("accepted: %+v", s.Doc())
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %T %v, want a *ValidationError", err, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not say %q", err, w)
				}
			}
		})
	}
}

func TestParseNamesEveryProblemUpToTen(t *testing.T) {
	var items []string
	for i := range 14 {
		items = append(items, item(fmt.Sprintf("i%d", i), "volume", "101"))
	}
	_, err := Parse([]byte(doc(items...)), Options{})
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 10 || ve.More != 4 {
		t.Fatalf("%v: want 10 problems listed and 4 more", err)
	}
	if p := ve.Problems[3]; p.Index != 3 || p.ID != "i3" || p.Field != "volume" {
		t.Errorf("problem 3 = %+v, want items[3] i3 volume", p)
	}
	if !strings.HasSuffix(err.Error(), "; and 4 more") {
		t.Errorf("message %q", err)
	}
}

func TestZonesUncheckedWhenLoading(t *testing.T) {
	d := doc(item("a", "zones", `["z9"]`))
	if _, err := Parse([]byte(d), Options{}); err != nil {
		t.Errorf("a stored schedule naming a zone the pole no longer has: %v; want it loaded", err)
	}
	if _, err := Parse([]byte(d), Options{Zones: poleZones}); err == nil {
		t.Error("schedule.set naming an unknown zone was accepted")
	}
}

func TestMidnightWindows(t *testing.T) {
	s, err := Parse([]byte(doc(
		item("late", "start", `"23:30"`, "duration_s", "-", "end", `"00:30"`),
		item("early", "start", `"00:00"`, "duration_s", "-", "end", `"23:59:59"`),
		item("day", "start", `"12:00:00"`, "duration_s", "86400"),
		item("hour", "start", `"23:30"`, "duration_s", "3600"),
	)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	mon := time.Date(2026, 11, 30, 0, 0, 0, 0, s.Location())
	got := s.Between(mon, mon.Add(24*time.Hour))
	want := []string{
		"early 2026-11-30 00:00:00 → 2026-11-30 23:59:59",
		"day 2026-11-30 12:00:00 → 2026-12-01 12:00:00",
		"late 2026-11-30 23:30:00 → 2026-12-01 00:30:00",
		"hour 2026-11-30 23:30:00 → 2026-12-01 00:30:00",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d occurrences, want %d: %v", len(got), len(want), got)
	}
	for i, o := range got {
		line := fmt.Sprintf("%s %s → %s", o.Item.ID, o.Start.Format(time.DateTime), o.End.Format(time.DateTime))
		if line != want[i] {
			t.Errorf("occurrence %d: %s, want %s", i, line, want[i])
		}
	}
}

func TestCheckPlayMessagesAreThoseOfPlay(t *testing.T) {
	// The messages agent/play.go gives today, copied: a shared check
	// must not change what an operator reads.
	vol := 140
	now := time.UnixMilli(2_000_000)
	tests := []struct {
		p     playargs.Play
		field string
		msg   string
	}{
		{playargs.Play{Item: "a b", Source: "tone:440"}, "item", `item "a b" must be 1-64 chars of A-Z a-z 0-9 . _ : -`},
		{playargs.Play{}, "source", `"source" is required`},
		{playargs.Play{Source: "x"}, "source", `source "x" has no scheme; use https://…, http://…, file:NAME, live:CHANNEL or tone:HZ`},
		{playargs.Play{Source: "http:x"}, "source", `source "http:x" is not a URL`},
		{playargs.Play{Source: "live:A"}, "source", `live channel "A" must be 3-64 chars of a-z 0-9 -`},
		{playargs.Play{Source: "tone:440", Priority: "high"}, "priority", `priority "high" must be one of [background normal priority live emergency]`},
		{playargs.Play{Source: "tone:440", Origin: "x"}, "origin", `origin "x" must be "province", "district" or "commune"`},
		{playargs.Play{Source: "tone:440", Volume: &vol}, "volume", "volume must be 0..100, got 140"},
		{playargs.Play{Source: "tone:440", Repeat: -1}, "repeat", "repeat must be 0..1000, got -1"},
		{playargs.Play{Source: "tone:440", DurationS: 1e6}, "duration_s", "duration_s must be 0..86400, got 1e+06"},
		{playargs.Play{Source: "tone:440", Until: 1_000_000}, "until", "until (1000000) has passed: the item may no longer start"},
		{playargs.Play{Source: "tone:440", Zones: []string{"z7"}}, "zones", "unknown zone \"z7\"; this pole has [z1 z2 z3 z4]"},
		{playargs.Play{Source: "tone:440", Zones: []string{}}, "zones", `"zones" is empty: give at least one zone, or leave it out for all`},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			fe := playargs.Check(&tt.p, poleZones, now)
			if fe == nil || fe.Field != tt.field || fe.Msg != tt.msg {
				t.Errorf("CheckPlay = %+v, want field %s: %s", fe, tt.field, tt.msg)
			}
		})
	}
	if fe := playargs.Check(&playargs.Play{Source: "file:a.mp3", Until: 3_000_000, Zones: []string{"z1"}}, poleZones, now); fe != nil {
		t.Errorf("valid play refused: %v", fe)
	}
}
