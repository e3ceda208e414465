package media

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/internal/clock"
)

func TestFetchVerifiesThenInstalls(t *testing.T) {
	src := t.TempDir()
	toneWAV(t, src, "tone.wav", audio.Format{Rate: 8000, Channels: 1}, 2)
	content, _ := os.ReadFile(filepath.Join(src, "tone.wav"))
	fs, srv := newFileServer(t, content)
	dir := filepath.Join(t.TempDir(), "media")
	c := newCollector()
	f := newTestFetcher(t, fastOptions(dir, c))

	st, err := f.Fetch(srv.URL+"/tone.wav?token=s3cret", strings.ToUpper(sum(content)), "thoi-su.wav")
	if err != nil || st != StatusFetching {
		t.Fatalf("Fetch = %q, %v", st, err)
	}
	ev := c.next(t)
	if ev.Kind != EventFetched || ev.Size != int64(len(content)) || ev.Bytes != int64(len(content)) || ev.Resumed || ev.Cached ||
		ev.Origin != "command" || ev.SHA256 != sum(content) || strings.Contains(ev.URL, "s3cret") {
		t.Fatalf("event %+v", ev)
	}
	src2, err := Open(dir, "thoi-su.wav")
	if err != nil {
		t.Fatalf("the fetched file does not play as file:thoi-su.wav: %v", err)
	}
	src2.Close()
	if des, _ := os.ReadDir(filepath.Join(dir, PartialDir)); len(des) != 0 {
		t.Errorf("partial directory not empty after the fetch: %v", des)
	}
	// Again: it is there, with that hash; nothing is downloaded.
	if st, err := f.Fetch(srv.URL+"/tone.wav", sum(content), "thoi-su.wav"); st != StatusCached || err != nil {
		t.Fatalf("second Fetch = %q, %v; want cached", st, err)
	}
	if ev := c.next(t); ev.Kind != EventFetched || !ev.Cached || ev.Bytes != 0 {
		t.Errorf("second event %+v, want fetched and cached", ev)
	}
	if n := len(fs.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
	waitUsage(t, f, func(u Usage) bool { return u.Files == 1 && u.UsedBytes == int64(len(content)) && u.Fetching == 0 })
}

func waitUsage(t *testing.T, f *Fetcher, ok func(Usage) bool) Usage {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		u := f.Usage()
		if ok(u) {
			return u
		}
		if time.Now().After(deadline) {
			t.Fatalf("usage %+v", u)
		}
		runtime.Gosched()
	}
}

func TestResumeAcrossLinkDrops(t *testing.T) {
	content := randomBytes(1<<20, 1)
	fs, srv := newFileServer(t, content)
	fs.dropAfter = 100 << 10 // every response is cut after 100 KiB
	dir := t.TempDir()
	c := newCollector()
	f := newTestFetcher(t, fastOptions(dir, c))
	if _, err := f.Fetch(srv.URL+"/bulletin.mp3", sum(content), "bulletin.mp3"); err != nil {
		t.Fatal(err)
	}
	ev := c.next(t)
	if ev.Kind != EventFetched || !ev.Resumed || ev.Attempts != 11 {
		t.Fatalf("event %+v, want fetched after 11 resumed attempts", ev)
	}
	// Every byte was sent once: each request began where the last ended.
	var want []int64
	for off := int64(0); off < int64(len(content)); off += 100 << 10 {
		want = append(want, off)
	}
	if got := fs.requests(); !slices.Equal(got, want) {
		t.Errorf("Range starts %v, want %v", got, want)
	}
	if served := fs.served.Load(); served != int64(len(content)) {
		t.Errorf("%d bytes served for a file of %d", served, len(content))
	}
	got, _ := os.ReadFile(filepath.Join(dir, "bulletin.mp3"))
	if !bytes.Equal(got, content) {
		t.Error("the file differs from what was served")
	}
}

func TestServerWithoutRangeStartsOver(t *testing.T) {
	content := randomBytes(300<<10, 2)
	fs, srv := newFileServer(t, content)
	dir := t.TempDir()
	c := newCollector()
	f := newTestFetcher(t, fastOptions(dir, c))
	// The first response drops; the server then ignores Range.
	fs.dropAfter = 50 << 10
	fs.pauseAt = func(start int64) int64 {
		fs.dropAfter = 0
		fs.ignoreRange = true
		return -1
	}
	f.Fetch(srv.URL+"/a", sum(content), "a.mp3")
	if ev := c.next(t); ev.Kind != EventFetched || ev.Resumed {
		t.Fatalf("event %+v, want fetched, not resumed", ev)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "a.mp3"))
	if !bytes.Equal(got, content) {
		t.Error("a 200 answer to a Range request was appended to the partial file")
	}
}

func TestWrongHashIsNeverServed(t *testing.T) {
	content := randomBytes(200<<10, 3)
	_, srv := newFileServer(t, content)
	dir := t.TempDir()
	// An older, good version of the file is in the cache.
	old := []byte("the old bulletin")
	os.WriteFile(filepath.Join(dir, "bt.mp3"), old, 0o644)
	c := newCollector()
	f := newTestFetcher(t, fastOptions(dir, c))
	want := strings.Repeat("0", 64)
	f.Fetch(srv.URL+"/bt.mp3", want, "bt.mp3")
	ev := c.next(t)
	if ev.Kind != EventFailed || ev.Reason != ReasonHashMismatch || ev.GotSHA256 != sum(content) || !strings.Contains(ev.Err, want) {
		t.Fatalf("event %+v, want hash_mismatch naming both hashes", ev)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "bt.mp3")); !bytes.Equal(got, old) {
		t.Error("the cached file was replaced by content with the wrong hash")
	}
	if des, _ := os.ReadDir(filepath.Join(dir, PartialDir)); len(des) != 0 {
		t.Errorf("the wrong content is kept in %s: %v", PartialDir, des)
	}
	d, _ := json.Marshal(ev.Data())
	if !strings.Contains(string(d), `"reason":"hash_mismatch"`) || !strings.Contains(string(d), `"got_sha256":"`+sum(content)) {
		t.Errorf("event data %s", d)
	}
}

func TestHTTPStatus(t *testing.T) {
	content := randomBytes(10<<10, 4)
	tests := []struct {
		name     string
		codes    []int // answered in turn, then the file
		reason   string
		status   int
		attempts int
	}{
		{"404 is final", []int{404}, ReasonHTTPStatus, 404, 1},
		{"403 is final", []int{403}, ReasonHTTPStatus, 403, 1},
		{"503 is retried", []int{503, 502}, "", 0, 3},
		{"429 is retried", []int{429}, "", 0, 2},
		{"5xx until the retries run out", []int{500, 500, 500, 500}, ReasonNetwork, 500, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := &fileServer{content: content, etag: `"v"`}
			n := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if n < len(tt.codes) {
					n++
					http.Error(w, "no", tt.codes[n-1])
					return
				}
				fs.ServeHTTP(w, r)
			}))
			defer srv.Close()
			c := newCollector()
			opts := fastOptions(t.TempDir(), c)
			opts.MaxRetries = 3
			f := newTestFetcher(t, opts)
			f.Fetch(srv.URL+"/x", sum(content), "x.mp3")
			ev := c.next(t)
			if ev.Reason != tt.reason || ev.Status != tt.status || ev.Attempts != tt.attempts {
				t.Errorf("event %+v, want reason %q status %d after %d attempts", ev, tt.reason, tt.status, tt.attempts)
			}
			if tt.reason == "" && ev.Kind != EventFetched {
				t.Errorf("event %+v, want fetched", ev)
			}
		})
	}
}

// TestTrickleIsCut: a server that sends its headers and a few bytes, then
// next to nothing, is cut after a rate window, retried, and given up.
func TestTrickleIsCut(t *testing.T) {
	for _, headers := range []bool{true, false} {
		t.Run(fmt.Sprintf("headers sent %v", headers), func(t *testing.T) {
			release := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if headers {
					w.Header().Set("Content-Length", "1000000")
					w.Write(make([]byte, 100))
					w.(http.Flusher).Flush()
				}
				select {
				case <-r.Context().Done():
				case <-release:
				}
			}))
			defer srv.Close()
			defer close(release)
			clk := clock.NewFake(time.Date(2026, 12, 1, 5, 0, 0, 0, time.UTC))
			c := newCollector()
			opts := fastOptions(t.TempDir(), c)
			opts.Clock, opts.MinRate, opts.RateWindow, opts.MaxRetries = clk, 1000, 10*time.Second, 1
			opts.BackoffBase, opts.BackoffMax = time.Second, time.Second
			f := newTestFetcher(t, opts)
			f.Fetch(srv.URL+"/slow", strings.Repeat("a", 64), "slow.mp3")
			for {
				select {
				case ev := <-c.ch:
					if ev.Kind != EventFailed || ev.Reason != ReasonTooSlow || ev.Attempts != 2 {
						t.Fatalf("event %+v, want too_slow after 2 attempts", ev)
					}
					return
				default:
				}
				// Move fake time only once the fetcher waits on it.
				if clk.Waiters() > 0 {
					clk.Advance(10 * time.Second)
				}
				runtime.Gosched()
			}
		})
	}
}

func TestRedirects(t *testing.T) {
	content := randomBytes(20<<10, 5)
	fs := &fileServer{content: content, etag: `"v"`}
	mux := http.NewServeMux()
	mux.Handle("/file", fs)
	mux.HandleFunc("/ftp", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "ftp://media.example.vn/bt.mp3", http.StatusFound)
	})
	mux.HandleFunc("/hop/{n}", func(w http.ResponseWriter, r *http.Request) {
		var n int
		fmt.Sscan(r.PathValue("n"), &n)
		target := fmt.Sprintf("/hop/%d", n-1)
		if n == 0 {
			target = "/file"
		}
		http.Redirect(w, r, target, http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tests := []struct {
		path, reason, says string
	}{
		{"/ftp", ReasonBadRedirect, "only http and https"},
		{"/hop/5", ReasonBadRedirect, "more than 5 redirects"},
		{"/hop/4", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			c := newCollector()
			f := newTestFetcher(t, fastOptions(t.TempDir(), c))
			f.Fetch(srv.URL+tt.path, sum(content), "r.mp3")
			ev := c.next(t)
			if ev.Reason != tt.reason || !strings.Contains(ev.Err, tt.says) || ev.Attempts != 1 {
				t.Errorf("event %+v, want reason %q saying %q", ev, tt.reason, tt.says)
			}
		})
	}
}

func TestTooLarge(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		says    string
	}{
		{"huge Content-Length", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "10737418240")
			w.Write(make([]byte, 1000))
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}, "10737418240 bytes or more, the limit is 1048576"},
		{"no length, endless body", func(w http.ResponseWriter, r *http.Request) {
			buf := make([]byte, 32<<10)
			for r.Context().Err() == nil {
				if _, err := w.Write(buf); err != nil {
					return
				}
			}
		}, "the limit is 1048576"},
		{"over the quota", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "600000")
			w.Write(make([]byte, 1000))
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}, "larger than the cache quota of 500000"},
		{"huge headers", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Junk", strings.Repeat("j", 100<<10))
			w.Write([]byte("x"))
		}, "headers exceed 65536 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			c := newCollector()
			dir := t.TempDir()
			opts := fastOptions(dir, c)
			opts.MaxFileSize, opts.QuotaBytes = 1<<20, 500000
			if tt.name != "over the quota" {
				opts.QuotaBytes = 0
			}
			f := newTestFetcher(t, opts)
			f.Fetch(srv.URL+"/big", strings.Repeat("a", 64), "big.mp3")
			ev := c.next(t)
			if ev.Reason != ReasonTooLarge || !strings.Contains(ev.Err, tt.says) || ev.Bytes > 1<<20+32<<10 {
				t.Errorf("event %+v, want too_large saying %q", ev, tt.says)
			}
			if des, _ := os.ReadDir(filepath.Join(dir, PartialDir)); len(des) != 0 {
				t.Errorf("partial kept: %v", des)
			}
		})
	}
}

func TestDiskFull(t *testing.T) {
	content := randomBytes(200<<10, 6)
	_, srv := newFileServer(t, content)
	t.Run("ENOSPC while writing", func(t *testing.T) {
		c := newCollector()
		dir := t.TempDir()
		f, err := NewFetcher(fastOptions(dir, c))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		f.beforeWrite = func(off int64, n int) error {
			if off > 50<<10 {
				return &os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}
			}
			return nil
		}
		f.Fetch(srv.URL+"/f", sum(content), "f.mp3")
		ev := c.next(t)
		if ev.Reason != ReasonDiskFull || ev.Attempts != 1 {
			t.Errorf("event %+v, want disk_full at once", ev)
		}
		if des, _ := os.ReadDir(filepath.Join(dir, PartialDir)); len(des) != 0 {
			t.Errorf("the partial file is kept on a full disk: %v", des)
		}
	})
	t.Run("would leave too little free", func(t *testing.T) {
		c := newCollector()
		opts := fastOptions(t.TempDir(), c)
		opts.MinFreeBytes = 64 << 20
		f, err := NewFetcher(opts)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		f.freeSpace = func(string) (int64, error) { return 64<<20 + 100<<10, nil }
		f.Fetch(srv.URL+"/f", sum(content), "f.mp3")
		ev := c.next(t)
		if ev.Reason != ReasonDiskFull || ev.Bytes != 0 || !strings.Contains(ev.Err, "must stay free") {
			t.Errorf("event %+v, want disk_full before any byte", ev)
		}
	})
}

func TestFetchRefusesBadRequests(t *testing.T) {
	c := newCollector()
	f := newTestFetcher(t, fastOptions(t.TempDir(), c))
	good := strings.Repeat("ab", 32)
	tests := []struct {
		url, sha, name string
		target         error
		says           string
	}{
		{"https://x.vn/a.mp3", good, "../a.mp3", ErrName, "name"},
		{"https://x.vn/a.mp3", good, ".a.mp3", ErrName, "starts with a dot"},
		{"https://x.vn/a.mp3", "abc", "a.mp3", ErrRequest, "64 hex digits, got 3"},
		{"https://x.vn/a.mp3", strings.Repeat("g", 64), "a.mp3", ErrRequest, "64 hex digits"},
		{"ftp://x.vn/a.mp3", good, "a.mp3", ErrRequest, "http:// or https://"},
		{"https://user:pw@/a.mp3", good, "a.mp3", ErrRequest, "with a host"},
		{"https://x.vn/" + strings.Repeat("a", 2048), good, "a.mp3", ErrRequest, "at most 2048"},
	}
	for _, tt := range tests {
		_, err := f.Fetch(tt.url, tt.sha, tt.name)
		if !errors.Is(err, tt.target) || !strings.Contains(err.Error(), tt.says) || strings.Contains(err.Error(), "pw@") {
			t.Errorf("Fetch(%q, %q, %q) = %v, want %v saying %q", tt.url, tt.sha, tt.name, err, tt.target, tt.says)
		}
	}
	c.none(t)
}

// TestResumeAfterRestart: the agent stops mid-download; at the next start
// the download continues by itself from the last checkpoint.
func TestResumeAfterRestart(t *testing.T) {
	content := randomBytes(600<<10, 7)
	fs, srv := newFileServer(t, content)
	first := true
	fs.pauseAt = func(start int64) int64 {
		if first {
			first = false
			return 250 << 10
		}
		return -1
	}
	dir := t.TempDir()
	c := newCollector()
	f := newTestFetcher(t, fastOptions(dir, c))
	f.Fetch(srv.URL+"/p", sum(content), "p.mp3")
	<-fs.paused
	// Wait until the fetcher has the paused bytes, then stop it.
	part := filepath.Join(dir, PartialDir, partBase("p.mp3", sum(content))+".part")
	for {
		if info, err := os.Stat(part); err == nil && info.Size() == 250<<10 {
			break
		}
		runtime.Gosched()
	}
	f.Close()
	c.none(t) // stopping is not a failure
	rec, err := readRecord(strings.TrimSuffix(part, ".part") + ".json")
	if err != nil || rec.State != stateActive || rec.Size != 250<<10 {
		t.Fatalf("progress record %+v, %v: want active at 250 KiB (Close checkpoints)", rec, err)
	}
	f2 := newTestFetcher(t, fastOptions(dir, c))
	ev := c.next(t)
	if ev.Kind != EventFetched || ev.Origin != "resume" || !ev.Resumed || ev.Bytes != int64(len(content)-250<<10) {
		t.Fatalf("event %+v, want fetched by itself, resumed, with only the rest downloaded", ev)
	}
	if got := fs.requests(); !slices.Equal(got, []int64{0, 250 << 10}) {
		t.Errorf("Range starts %v", got)
	}
	f2.Close()
}

func TestSupersede(t *testing.T) {
	a, b := randomBytes(100<<10, 8), randomBytes(100<<10, 9)
	fsA, srvA := newFileServer(t, a)
	fsA.pauseAt = func(int64) int64 { return 10 << 10 }
	_, srvB := newFileServer(t, b)
	dir := t.TempDir()
	c := newCollector()
	f := newTestFetcher(t, fastOptions(dir, c))
	f.Fetch(srvA.URL+"/a", sum(a), "bt.mp3")
	<-fsA.paused
	if st, err := f.Fetch(srvB.URL+"/b", sum(b), "bt.mp3"); st != StatusFetching || err != nil {
		t.Fatal(st, err)
	}
	ev1, ev2 := c.next(t), c.next(t)
	if ev1.Kind != EventFailed || ev1.Reason != ReasonSuperseded || ev1.SHA256 != sum(a) {
		t.Errorf("first event %+v, want a superseded", ev1)
	}
	if ev2.Kind != EventFetched || ev2.SHA256 != sum(b) {
		t.Errorf("second event %+v, want b fetched", ev2)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "bt.mp3")); !bytes.Equal(got, b) {
		t.Error("bt.mp3 is not the newer content")
	}
	f.Close()
	if des, _ := os.ReadDir(filepath.Join(dir, PartialDir)); len(des) != 0 {
		t.Errorf("the superseded partial is kept: %v", des)
	}
}

func TestConcurrencyIsBounded(t *testing.T) {
	content := randomBytes(64<<10, 10)
	fs, srv := newFileServer(t, content)
	c := newCollector()
	opts := fastOptions(t.TempDir(), c)
	opts.MaxConcurrent = 1
	f := newTestFetcher(t, opts)
	for i := range 4 {
		f.Fetch(srv.URL+"/x", sum(content), fmt.Sprintf("f%d.mp3", i))
	}
	for range 4 {
		if ev := c.next(t); ev.Kind != EventFetched {
			t.Fatalf("event %+v", ev)
		}
	}
	if m := fs.maxIn.Load(); m != 1 {
		t.Errorf("%d downloads at once, want at most 1", m)
	}
}

func TestQueueIsBounded(t *testing.T) {
	content := randomBytes(10<<10, 11)
	fs, srv := newFileServer(t, content)
	fs.pauseAt = func(int64) int64 { return 0 }
	c := newCollector()
	opts := fastOptions(t.TempDir(), c)
	opts.MaxConcurrent, opts.MaxQueue = 1, 2
	f := newTestFetcher(t, opts)
	for i := range 3 {
		if _, err := f.Fetch(srv.URL+"/x", sum(content), fmt.Sprintf("f%d.mp3", i)); err != nil {
			t.Fatalf("fetch %d: %v", i, err)
		}
	}
	if _, err := f.Fetch(srv.URL+"/x", sum(content), "f3.mp3"); !errors.Is(err, ErrBusy) {
		t.Errorf("a fourth fetch with one running and two queued: %v, want ErrBusy", err)
	}
	if u := waitUsage(t, f, func(u Usage) bool { return u.Fetching == 1 }); u.Queued != 2 {
		t.Errorf("usage %+v, want 1 fetching and 2 queued", u)
	}
}

func TestCloseTwiceThenFetch(t *testing.T) {
	f, err := NewFetcher(FetcherOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	f.Close()
	if _, err := f.Fetch("https://x.vn/a", strings.Repeat("a", 64), "a.mp3"); !errors.Is(err, ErrClosed) {
		t.Errorf("Fetch after Close: %v", err)
	}
	f.Touch("a.mp3")
	f.SetPinned(nil)
}

func TestEventDataGolden(t *testing.T) {
	evs := []Event{
		{Kind: EventFetched, Name: "thoi-su.mp3", URL: "https://media.example.vn/thoi-su.mp3?token=REDACTED", SHA256: strings.Repeat("9f", 32),
			Origin: "prefetch", Size: 28800000, Bytes: 12000000, Resumed: true, Attempts: 4},
		{Kind: EventFailed, Name: "bt.mp3", URL: "https://media.example.vn/bt.mp3", SHA256: strings.Repeat("ab", 32), Origin: "command",
			Bytes: 4096, Attempts: 1, Reason: ReasonHashMismatch, GotSHA256: strings.Repeat("cd", 32),
			Err: "media bt.mp3: the 4096 bytes received hash to cdcd…, want abab…; the file is not kept"},
		{Kind: EventFailed, Name: "bt.mp3", URL: "https://media.example.vn/bt.mp3", SHA256: strings.Repeat("ab", 32), Origin: "command",
			Attempts: 1, Reason: ReasonHTTPStatus, Status: 404, Err: "media bt.mp3: the server answered 404 Not Found, want 200 or 206"},
		{Kind: EventEvicted, Name: "old.mp3", Size: 5000000, Reason: "quota"},
	}
	var b strings.Builder
	for _, ev := range evs {
		d, _ := json.Marshal(map[string]any{"type": ev.Kind, "data": ev.Data()})
		b.Write(d)
		b.WriteByte('\n')
	}
	golden(t, "fetch-events.golden", b.String())
}
