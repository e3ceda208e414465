package media

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loaxa/loaxa/internal/clock"
)

func writeAged(t *testing.T, dir, name string, size int, age time.Time) {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, make([]byte, size), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, age, age); err != nil {
		t.Fatal(err)
	}
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name)
	}
	return out
}

// TestQuotaEvictsLeastRecentlyUsed: over the quota, the files used
// longest ago go first; a pinned file (the schedule needs it) and a link
// placed by hand never go.
func TestQuotaEvictsLeastRecentlyUsed(t *testing.T) {
	const k = 100 << 10
	dir := t.TempDir()
	writeAged(t, dir, "pinned-oldest.mp3", k, time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC))
	writeAged(t, dir, "old.mp3", k, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
	writeAged(t, dir, "played.mp3", k, time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC))
	os.Symlink("/usr/share/sounds/usb-stick.wav", filepath.Join(dir, "usb.wav"))
	content := randomBytes(k, 12)
	_, srv := newFileServer(t, content)

	clk := clock.NewFake(time.Date(2026, 12, 1, 5, 0, 0, 0, time.UTC))
	c := newCollector()
	opts := fastOptions(dir, c)
	opts.Clock, opts.QuotaBytes = clk, 350<<10
	f := newTestFetcher(t, opts)
	f.SetPinned([]string{"pinned-oldest.mp3", "gone.mp3"})
	f.Touch("played.mp3") // played this morning: the most recent
	f.Touch("nope/../x")  // ignored
	u := waitUsage(t, f, func(u Usage) bool { return u.MissingCount == 1 })
	if u.UsedBytes != 3*k || u.Files != 3 || u.QuotaBytes != 350<<10 || !slices.Equal(u.Missing, []string{"gone.mp3"}) {
		t.Errorf("usage %+v", u)
	}

	clk.Advance(time.Minute)
	f.Fetch(srv.URL+"/new", sum(content), "new.mp3")
	if ev := c.next(t); ev.Kind != EventFetched {
		t.Fatalf("event %+v", ev)
	}
	if ev := c.next(t); ev.Kind != EventEvicted || ev.Name != "old.mp3" || ev.Size != k {
		t.Fatalf("event %+v, want old.mp3 evicted", ev)
	}
	if got := names(t, dir); !slices.Equal(got, []string{"new.mp3", "pinned-oldest.mp3", "played.mp3"}) {
		t.Errorf("cache %v after the fetch", got)
	}
	// A smaller quota: played.mp3 (this morning) goes before new.mp3 (a
	// minute later); the pinned file stays even though it is the oldest.
	f.SetQuota(150 << 10)
	for _, want := range []string{"played.mp3", "new.mp3"} {
		if ev := c.next(t); ev.Kind != EventEvicted || ev.Name != want {
			t.Fatalf("event %+v, want %s evicted", ev, want)
		}
	}
	u = waitUsage(t, f, func(u Usage) bool { return u.QuotaBytes == 150<<10 && u.Files == 1 })
	if u.UsedBytes != k {
		t.Errorf("usage %+v", u)
	}
	c.none(t)
	// The index remembers only files that exist.
	f.Close()
	var ix cacheIndex
	data, _ := os.ReadFile(filepath.Join(dir, indexName))
	if err := json.Unmarshal(data, &ix); err != nil || len(ix.Files) != 0 && ix.Files["played.mp3"] != nil {
		t.Errorf("index %s", data)
	}
}

func TestPinnedFileOverQuotaStays(t *testing.T) {
	dir := t.TempDir()
	writeAged(t, dir, "a.mp3", 1000, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
	c := newCollector()
	opts := fastOptions(dir, c)
	opts.QuotaBytes = 10
	f := newTestFetcher(t, opts)
	f.SetPinned([]string{"a.mp3"})
	f.SetQuota(10)
	waitUsage(t, f, func(u Usage) bool { return u.QuotaBytes == 10 && u.Files == 1 })
	c.none(t)
	if got := names(t, dir); !slices.Equal(got, []string{"a.mp3"}) {
		t.Errorf("cache %v: the pinned file was evicted", got)
	}
}

// TestPrefetch: what the schedule needs is fetched, what is there is not,
// and a file that failed is not asked for again at every call.
func TestPrefetch(t *testing.T) {
	have := randomBytes(30<<10, 13)
	need := randomBytes(30<<10, 14)
	fsHave, srvHave := newFileServer(t, have)
	fsNeed, srvNeed := newFileServer(t, need)
	dir := t.TempDir()
	clk := clock.NewFake(time.Date(2026, 12, 1, 5, 0, 0, 0, time.UTC))
	c := newCollector()
	opts := fastOptions(dir, c)
	opts.Clock = clk
	f := newTestFetcher(t, opts)
	// have.mp3 is in the cache already (fetched once).
	f.Fetch(srvHave.URL+"/have", sum(have), "have.mp3")
	c.next(t)
	needs := []Request{
		{URL: srvNeed.URL + "/need", SHA256: sum(need), Name: "need.mp3"},
		{URL: srvHave.URL + "/have", SHA256: sum(have), Name: "have.mp3"},
		{URL: "ftp://x/y", SHA256: sum(need), Name: "bad.mp3"},
		{URL: srvNeed.URL + "/missing", SHA256: strings.Repeat("0", 64), Name: "wrong.mp3"},
	}
	f.Prefetch(needs)
	got := map[string]Event{}
	for range 2 {
		ev := c.next(t)
		got[ev.Name] = ev
	}
	if ev := got["need.mp3"]; ev.Kind != EventFetched || ev.Origin != "prefetch" {
		t.Errorf("need.mp3: %+v", ev)
	}
	if ev := got["wrong.mp3"]; ev.Kind != EventFailed || ev.Reason != ReasonHashMismatch {
		t.Errorf("wrong.mp3: %+v", ev)
	}
	if n := len(fsHave.requests()); n != 1 {
		t.Errorf("have.mp3 requested %d times, want once (before the prefetch)", n)
	}
	// Again at once: nothing to do (need is there, wrong failed recently).
	before := len(fsNeed.requests())
	f.Prefetch(needs)
	f.Usage()
	waitUsage(t, f, func(u Usage) bool { return u.Fetching == 0 && u.Queued == 0 })
	c.none(t)
	// An hour later the failed one is tried again.
	clk.Advance(time.Hour)
	f.Prefetch(needs)
	if ev := c.next(t); ev.Name != "wrong.mp3" || ev.Reason != ReasonHashMismatch {
		t.Errorf("after an hour: %+v", ev)
	}
	if n := len(fsNeed.requests()) - before; n != 1 {
		t.Errorf("%d requests after the repeated prefetches, want 1", n)
	}
}

// TestFileByHandIsVerifiedOnce: a file copied into the cache by hand with
// the right content is hashed once and not downloaded.
func TestFileByHandIsVerifiedOnce(t *testing.T) {
	content := randomBytes(20<<10, 15)
	fs, srv := newFileServer(t, content)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "hand.mp3"), content, 0o644)
	c := newCollector()
	f := newTestFetcher(t, fastOptions(dir, c))
	if st, _ := f.Fetch(srv.URL+"/h", sum(content), "hand.mp3"); st != StatusFetching {
		t.Fatalf("status %q: the hash of a file by hand is not known yet", st)
	}
	if ev := c.next(t); !ev.Cached || ev.Bytes != 0 {
		t.Errorf("event %+v, want cached", ev)
	}
	if st, _ := f.Fetch(srv.URL+"/h", sum(content), "hand.mp3"); st != StatusCached {
		t.Errorf("second fetch %q, want cached from the index", st)
	}
	c.next(t)
	if n := len(fs.requests()); n != 0 {
		t.Errorf("%d downloads of a file already there", n)
	}
}

func TestResolveAir(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "bt.mp3"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(dir, "xin-loi.mp3"), []byte("x"), 0o644)
	os.Mkdir(filepath.Join(dir, "dir.mp3"), 0o755)
	tests := []struct {
		name, url, fallback string
		want                Air
	}{
		{"bt.mp3", "https://x.vn/bt.mp3", "xin-loi.mp3", Air{Source: "file:bt.mp3"}},
		{"missing.mp3", "https://x.vn/m.mp3", "xin-loi.mp3", Air{Source: "https://x.vn/m.mp3", Missing: true, Fallback: FallbackURL}},
		{"missing.mp3", "", "xin-loi.mp3", Air{Source: "file:xin-loi.mp3", Missing: true, Fallback: FallbackFile}},
		{"missing.mp3", "", "also-missing.mp3", Air{Missing: true, Fallback: FallbackSilence}},
		{"missing.mp3", "", "", Air{Missing: true, Fallback: FallbackSilence}},
		{"dir.mp3", "", "", Air{Missing: true, Fallback: FallbackSilence}},
		{"../etc/passwd", "", "../etc/passwd", Air{Missing: true, Fallback: FallbackSilence}},
	}
	for _, tt := range tests {
		if got := ResolveAir(dir, tt.name, tt.url, tt.fallback); got != tt.want {
			t.Errorf("ResolveAir(%s, %q, %q) = %+v, want %+v", tt.name, tt.url, tt.fallback, got, tt.want)
		}
	}
	ev, _ := json.Marshal(ResolveAir(dir, "missing.mp3", "https://u:p@x.vn/m.mp3?t=1", "").MissingEvent("missing.mp3", "tin:2026-12-01"))
	if string(ev) != `{"fallback":"url","item":"tin:2026-12-01","name":"missing.mp3","source":"https://REDACTED@x.vn/m.mp3?t=REDACTED"}` {
		t.Errorf("media.missing data %s", ev)
	}
}

// TestStartCleansPartials: at start, leftovers of a crash go and
// interrupted downloads come back.
func TestStartCleansPartials(t *testing.T) {
	dir := t.TempDir()
	pd := filepath.Join(dir, PartialDir)
	os.MkdirAll(pd, 0o755)
	sha := strings.Repeat("ab", 32)
	write := func(name string, data string) { os.WriteFile(filepath.Join(pd, name), []byte(data), 0o644) }
	rec := func(name, state string, updated time.Time) string {
		d, _ := json.Marshal(progress{V: 1, Name: name, URL: "http://127.0.0.1:1/x", SHA256: sha, Size: 0, Total: -1, State: state, Updated: updated.UnixMilli()})
		return string(d)
	}
	now := time.Now()
	write("orphan.mp3."+sha[:16]+".part", "x")                             // no record
	write("norecord.json", "{")                                            // junk
	write("gone.mp3."+sha[:16]+".json", rec("gone.mp3", stateActive, now)) // no part
	write("old.mp3."+sha[:16]+".part", "x")                                // too old
	write("old.mp3."+sha[:16]+".json", rec("old.mp3", stateFailed, now.AddDate(0, 0, -8)))
	write("kept.mp3."+sha[:16]+".part", "x") // failed, recent: kept
	write("kept.mp3."+sha[:16]+".json", rec("kept.mp3", stateFailed, now))
	os.WriteFile(filepath.Join(dir, "."+indexName+".tmp-123"), []byte("x"), 0o644)
	c := newCollector()
	opts := fastOptions(dir, c)
	f := newTestFetcher(t, opts)
	f.Close()
	des, _ := os.ReadDir(pd)
	var got []string
	for _, de := range des {
		got = append(got, de.Name())
	}
	if want := []string{"kept.mp3." + sha[:16] + ".json", "kept.mp3." + sha[:16] + ".part"}; !slices.Equal(got, want) {
		t.Errorf("partials after start: %v, want %v", got, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "."+indexName+".tmp-123")); err == nil {
		t.Error("a temporary index file survived the start")
	}
}

// TestAirRefusesAnOlderVersion: a scheduled item names the hash it needs;
// an older file of the same name does not air in its place.
func TestAirRefusesAnOlderVersion(t *testing.T) {
	v1, v2 := randomBytes(10<<10, 16), randomBytes(10<<10, 17)
	_, srv := newFileServer(t, v1)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "xin-loi.mp3"), []byte("x"), 0o644)
	c := newCollector()
	f := newTestFetcher(t, fastOptions(dir, c))
	f.Fetch(srv.URL+"/tuan", sum(v1), "tuan.mp3")
	c.next(t)
	tests := []struct {
		sha  string
		want Air
	}{
		{sum(v1), Air{Source: "file:tuan.mp3"}},
		{strings.ToUpper(sum(v1)), Air{Source: "file:tuan.mp3"}},
		{"", Air{Source: "file:tuan.mp3"}},
		{sum(v2), Air{Source: "file:xin-loi.mp3", Missing: true, Fallback: FallbackFile}},
	}
	for _, tt := range tests {
		if got := f.Air("tuan.mp3", tt.sha, "", "xin-loi.mp3"); got != tt.want {
			t.Errorf("Air(sha %.8s) = %+v, want %+v", tt.sha, got, tt.want)
		}
	}
	f.Close()
	if got := f.Air("tuan.mp3", sum(v2), "", ""); got.Source != "file:tuan.mp3" {
		t.Errorf("Air after Close = %+v, want the plain ResolveAir", got)
	}
}
