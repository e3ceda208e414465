package ota

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
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

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// t0 is the fake "now" of the tests.
var t0 = time.Date(2025, 11, 25, 10, 0, 0, 0, time.UTC)

// testKey returns a deterministic signing key: the same seed gives the
// same key, so golden files are stable.
func testKey(seed byte) *PrivateKey {
	s := bytes.Repeat([]byte{seed}, ed25519.SeedSize)
	return &PrivateKey{ed25519.NewKeyFromSeed(s)}
}

// fakeBinary is size bytes that CheckELF accepts for this machine: an ELF
// header naming this architecture, then pseudo-random bytes.
func fakeBinary(size int, seed uint64) []byte {
	b := make([]byte, size)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	copy(b, "\x7fELF\x02\x01\x01")
	m := elfMachines[Arch()]
	b[18], b[19] = byte(m), byte(m>>8)
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// release builds a manifest for bin.
func release(version string, bin []byte, urls ...string) Manifest {
	v, err := ParseVersion(version)
	if err != nil {
		panic(err)
	}
	return Manifest{
		Format: ManifestFormat, Version: v, Arch: Arch(), Size: int64(len(bin)), SHA256: sha(bin),
		URLs: urls, Issued: t0.Add(-time.Hour), Expires: t0.Add(30 * 24 * time.Hour), Notes: "test release",
	}
}

// sign returns the signed document's bytes, signed by every key.
func signDoc(m Manifest, keys ...*PrivateKey) []byte {
	s := Signed{Manifest: m}
	for _, k := range keys {
		s.Signatures = append(s.Signatures, k.Sign(&m))
	}
	return s.Marshal()
}

// server serves files with Range support, counts the body bytes it
// writes, and can cut a response after a number of bytes.
type server struct {
	*httptest.Server
	mu      sync.Mutex // guards files, cuts, ranges
	files   map[string][]byte
	cuts    []int64 // body bytes after which the next responses are cut
	ranges  []string
	served  atomic.Int64
	ignoreR bool
}

func newServer(t *testing.T) *server {
	s := &server{files: map[string][]byte{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.handle))
	t.Cleanup(s.Close)
	return s
}

func (s *server) put(name string, b []byte) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[name] = b
	return s.URL + "/" + name
}

// cutAfter makes the next len(n) responses end abruptly after n[i] body bytes.
func (s *server) cutAfter(n ...int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cuts = append(s.cuts, n...)
}

func (s *server) handle(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	b, ok := s.files[strings.TrimPrefix(r.URL.Path, "/")]
	cut := int64(-1)
	if len(s.cuts) > 0 {
		cut, s.cuts = s.cuts[0], s.cuts[1:]
	}
	s.ranges = append(s.ranges, r.Header.Get("Range"))
	ignore := s.ignoreR
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	start := int64(0)
	if rg := r.Header.Get("Range"); rg != "" && !ignore {
		start, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(rg, "bytes="), "-"), 10, 64)
		if start >= int64(len(b)) {
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		w.Header().Set("Content-Range", "bytes "+strconv.FormatInt(start, 10)+"-"+strconv.Itoa(len(b)-1)+"/"+strconv.Itoa(len(b)))
		w.Header().Set("Content-Length", strconv.FormatInt(int64(len(b))-start, 10))
		w.WriteHeader(http.StatusPartialContent)
	} else {
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	}
	body := b[start:]
	if cut >= 0 && cut < int64(len(body)) {
		// Send part of the body, then drop the connection: the client sees
		// a body shorter than its Content-Length.
		n, _ := w.Write(body[:cut])
		s.served.Add(int64(n))
		w.(http.Flusher).Flush()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close() // FIN after the data: the client has every byte sent
		}
		return
	}
	n, _ := w.Write(body)
	s.served.Add(int64(n))
}

func (s *server) rangeHeaders() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ranges...)
}

// snapshot maps every file under dir to its mode and content hash, so a
// test can show that nothing changed.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(p)
		fi, _ := d.Info()
		out[p] = fi.Mode().String() + " " + sha(b)
		return nil
	})
	return out
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
