package media

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		os.Exit(crashChild())
	}
	goleak.VerifyTestMain(m)
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// fileServer serves one file with Range support and ways to misbehave.
type fileServer struct {
	content []byte
	// dropAfter cuts every response after so many body bytes.
	dropAfter int64
	// pauseAt, if set, is called before each response; it returns the
	// absolute offset at which the response stops sending and waits for
	// the client to go (-1: never).
	pauseAt func(start int64) int64
	// paused receives the offset where a response paused; complete is
	// signalled after a response sent the file's last byte.
	paused   chan int64
	complete chan struct{}
	// ignoreRange sends 200 and the whole file whatever was asked.
	ignoreRange bool
	// etag is sent with every response; changing it invalidates If-Range.
	etag string

	mu       sync.Mutex
	starts   []int64 // Range start of each request (0 without Range)
	served   atomic.Int64
	inFlight atomic.Int32
	maxIn    atomic.Int32
}

func newFileServer(t *testing.T, content []byte) (*fileServer, *httptest.Server) {
	fs := &fileServer{content: content, etag: `"v1"`, paused: make(chan int64, 100), complete: make(chan struct{}, 100)}
	srv := httptest.NewServer(fs)
	t.Cleanup(srv.Close)
	return fs, srv
}

func (s *fileServer) requests() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int64(nil), s.starts...)
}

func (s *fileServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for m := s.maxIn.Load(); n > m && !s.maxIn.CompareAndSwap(m, n); m = s.maxIn.Load() {
	}
	size := int64(len(s.content))
	start := int64(0)
	if rg := r.Header.Get("Range"); rg != "" && !s.ignoreRange {
		v, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(rg, "bytes="), "-"), 10, 64)
		if err != nil {
			http.Error(w, "bad range", http.StatusBadRequest)
			return
		}
		if ir := r.Header.Get("If-Range"); ir == "" || ir == s.etag {
			start = v
		}
	}
	s.mu.Lock()
	s.starts = append(s.starts, start)
	s.mu.Unlock()
	w.Header().Set("ETag", s.etag)
	if start >= size && start > 0 {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", size))
		w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
		return
	}
	w.Header().Set("Content-Length", strconv.FormatInt(size-start, 10))
	if start > 0 {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, size-1, size))
		w.WriteHeader(http.StatusPartialContent)
	} else {
		w.WriteHeader(http.StatusOK)
	}
	end := size
	if s.dropAfter > 0 {
		end = min(end, start+s.dropAfter)
	}
	pause := int64(-1)
	if s.pauseAt != nil {
		pause = s.pauseAt(start)
		if pause >= 0 {
			end = min(end, max(pause, start))
		}
	}
	for off := start; off < end; {
		k := min(end-off, 8<<10)
		if _, err := w.Write(s.content[off : off+k]); err != nil {
			return
		}
		s.served.Add(k)
		off += k
	}
	w.(http.Flusher).Flush()
	if pause >= 0 && end < size {
		s.paused <- end
		<-r.Context().Done()
		return
	}
	if end < size {
		panic(http.ErrAbortHandler) // the link drops mid-file
	}
	if s.complete != nil {
		s.complete <- struct{}{}
	}
}

// collector gathers a Fetcher's events.
type collector struct{ ch chan Event }

func newCollector() *collector { return &collector{ch: make(chan Event, 100)} }

func (c *collector) on(ev Event) {
	select {
	case c.ch <- ev:
	default:
		panic("test collector full")
	}
}

// next waits for the next event. The timeout only keeps a broken test
// from hanging; nothing is timed.
func (c *collector) next(t *testing.T) Event {
	t.Helper()
	select {
	case ev := <-c.ch:
		return ev
	case <-time.After(60 * time.Second):
		t.Fatal("no event from the fetcher")
		return Event{}
	}
}

func (c *collector) none(t *testing.T) {
	t.Helper()
	select {
	case ev := <-c.ch:
		t.Fatalf("unexpected event %+v", ev)
	default:
	}
}

// fastOptions are options for tests: no waits between attempts, small
// checkpoints, no free-space check.
func fastOptions(dir string, c *collector) FetcherOptions {
	return FetcherOptions{Dir: dir, OnEvent: c.on, BackoffBase: time.Nanosecond, BackoffMax: time.Nanosecond,
		CheckpointBytes: 16 << 10, MinFreeBytes: -1}
}

func newTestFetcher(t *testing.T, opts FetcherOptions) *Fetcher {
	t.Helper()
	f, err := NewFetcher(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

var update = flag.Bool("update", false, "rewrite the golden files")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s--- want\n%s", path, got, want)
	}
}
