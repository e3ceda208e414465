package stream

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/internal/clock"
)

func TestOpenRejectsBadURLs(t *testing.T) {
	var calls atomic.Int32
	client := &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
		calls.Add(1)
		return nil, errors.New("no request should be made")
	})}
	for _, u := range []string{
		"ftp://user:hunter2@example.com/a.mp3",
		"file:///var/lib/loaxa/media/a.mp3",
		"rtsp://example.com/live",
		"example.com/a.mp3",
		"http://",
		"https:///a.mp3",
		"http://user:hunter2@exa mple.com/%zz",
		"",
	} {
		t.Run(u, func(t *testing.T) {
			s, err := Open(t.Context(), u, Options{Client: client})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, ErrScheme) {
				t.Errorf("error %v, want ErrScheme", err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("%d requests were made for bad URLs", n)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestFile(t *testing.T) {
	data := encodeMP3(t, 3)
	want := decodeAll(t, data)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/mpeg")
		http.ServeContent(w, r, "tone.mp3", time.Time{}, bytes.NewReader(data))
	})
	rec := newRecorder()
	s, err := Open(t.Context(), srv.URL+"/tone.mp3", fastOptions(rec))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if f := s.Format(); f != (audio.Format{Rate: 44100, Channels: 2}) {
		t.Errorf("format %v, want 44100 Hz stereo", f)
	}
	got, err := readAll(t, s)
	if err != io.EOF {
		t.Fatalf("read ended with %v, want io.EOF", err)
	}
	samePCM(t, "decoded file", got, want)
	if _, err := s.Read(make([]int16, 100)); err != io.EOF {
		t.Errorf("Read after the end: %v, want io.EOF again", err)
	}
	st := s.Stats()
	if st.Live || st.Size != int64(len(data)) || st.Offset != int64(len(data)) || st.Connects != 1 || st.Failures != 0 || st.Samples != int64(len(want)) {
		t.Errorf("stats %+v", st)
	}
	if k := rec.kinds(); !slices.Equal(k, []EventKind{EventConnected}) {
		t.Errorf("events %v, want one connected", k)
	}
}

// icyTitles is what the ICY servers of the tests send: UTF-8 Vietnamese, an
// empty block (no change), Latin-1, an apostrophe inside the title.
func icyMeta(i int) string {
	switch i % 4 {
	case 0:
		return "StreamTitle='Tin tức: bão số 3 đổ bộ';StreamUrl='';"
	case 1:
		return ""
	case 2:
		return "StreamTitle='Caf\xe9 du matin';"
	default:
		return "StreamTitle='Don't panic';StreamUrl='http://example.com/';"
	}
}

func TestICY(t *testing.T) {
	data := encodeMP3(t, 5)
	want := decodeAll(t, data)
	const metaint = 8192
	body := icyBody(data, metaint, icyMeta)
	var wantTitles []string
	for i := range len(data) / metaint {
		if title, ok := parseTitle([]byte(icyMeta(i))); ok && (len(wantTitles) == 0 || wantTitles[len(wantTitles)-1] != title) {
			wantTitles = append(wantTitles, title)
		}
	}
	if !slices.Contains(wantTitles, "Café du matin") || !slices.Contains(wantTitles, "Don't panic") {
		t.Fatalf("test data: titles %q", wantTitles)
	}

	// Each server serves the stream once and then says the mount is gone,
	// so the Stream ends after one pass with an error.
	icecast := func(hits *atomic.Int32) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if hits.Add(1) > 1 {
				http.Error(w, "Source does not exist", http.StatusNotFound)
				return
			}
			w.Header().Set("Content-Type", "audio/mpeg")
			if r.Header.Get("Icy-MetaData") != "1" {
				writeSlowly(w, data)
				return
			}
			w.Header().Set("icy-metaint", strconv.Itoa(metaint))
			w.Header().Set("icy-name", "Dai phat thanh")
			writeSlowly(w, body)
		}
	}
	cases := []struct {
		name  string
		start func(t *testing.T) (url string, o Options)
	}{
		{"icecast", func(t *testing.T) (string, Options) {
			var hits atomic.Int32
			return newServer(t, icecast(&hits)).URL + "/live", Options{}
		}},
		{"icecast over https", func(t *testing.T) (string, Options) {
			var hits atomic.Int32
			srv := httptest.NewTLSServer(icecast(&hits))
			t.Cleanup(srv.Close)
			roots := x509.NewCertPool()
			roots.AddCert(srv.Certificate())
			return srv.URL + "/live", Options{Client: NewClient(&tls.Config{RootCAs: roots})}
		}},
		{"shoutcast ICY status line", func(t *testing.T) (string, Options) {
			return rawServer(t, func(n int, c net.Conn, req *http.Request) {
				if n > 0 {
					io.WriteString(c, "HTTP/1.0 404 Not Found\r\n\r\n")
					return
				}
				if req.Header.Get("Icy-MetaData") != "1" {
					io.WriteString(c, "ICY 200 OK\r\ncontent-type: audio/mpeg\r\n\r\n")
					c.Write(data)
					return
				}
				io.WriteString(c, "ICY 200 OK\r\nicy-notice1: <BR>This stream requires Winamp<BR>\r\n"+
					"icy-name: Dai phat thanh\r\ncontent-type: audio/mpeg\r\nicy-pub: 1\r\n"+
					"icy-metaint: 8192\r\nicy-br: 128\r\n\r\n")
				for b := body; len(b) > 0; b = b[min(len(b), 5000):] {
					c.Write(b[:min(len(b), 5000)])
				}
			}) + "/;stream.mp3", Options{} // the default client: it rewrites ICY
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			url, o := tc.start(t)
			rec := newRecorder()
			fo := fastOptions(rec)
			fo.Client = o.Client
			s, err := Open(t.Context(), url, fo)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()

			// Telemetry reads Title and Stats while the stream plays.
			done := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() {
				for {
					select {
					case <-done:
						return
					default:
						_, _ = s.Title(), s.Stats()
					}
				}
			})
			got, err := readAll(t, s)
			close(done)
			wg.Wait()

			var he *HTTPError
			if !errors.As(err, &he) || he.StatusCode != http.StatusNotFound {
				t.Fatalf("stream ended with %v, want the 404 of the reconnection", err)
			}
			samePCM(t, "PCM of the ICY stream", got, want)
			if titles := rec.titles(); !slices.Equal(titles, wantTitles) {
				t.Errorf("title events %q, want %q", titles, wantTitles)
			}
			if title := s.Title(); title != wantTitles[len(wantTitles)-1] {
				t.Errorf("Title() = %q, want %q", title, wantTitles[len(wantTitles)-1])
			}
			st := s.Stats()
			if !st.Live || st.MetaInt != metaint || st.Name != "Dai phat thanh" ||
				st.AudioBytes != int64(len(data)) || st.MetaBytes != int64(len(body)-len(data)) {
				t.Errorf("stats %+v; audio %d bytes, metadata %d", st, len(data), len(body)-len(data))
			}
			if rec.count(EventConnected) != 1 || rec.count(EventFailed) != 1 {
				t.Errorf("events %v, want one connected and one failed", rec.kinds())
			}
		})
	}
}

func TestLiveReconnectsAfterCut(t *testing.T) {
	data := encodeMP3(t, 3)
	want := decodeAll(t, data)
	const cut = 20011
	var hits atomic.Int32
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/mpeg")
		w.Header().Set("icy-br", "128")
		switch hits.Add(1) {
		case 1:
			writeSlowly(w, data[:cut])
			abort()
		case 2:
			writeSlowly(w, data)
		default:
			http.NotFound(w, r)
		}
	})
	rec := newRecorder()
	s, err := Open(t.Context(), srv.URL, fastOptions(rec))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := readAll(t, s)
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("stream ended with %v, want the 404 of the third connection", err)
	}
	// What the first connection delivered, then the second one in full.
	samePCM(t, "PCM across the reconnection", got, slices.Concat(decodeAll(t, data[:cut]), want))
	wantKinds := []EventKind{EventConnected, EventReconnecting, EventConnected, EventReconnecting, EventFailed}
	if k := rec.kinds(); !slices.Equal(k, wantKinds) {
		t.Errorf("events %v, want %v", k, wantKinds)
	}
	if e := rec.waitFor(t, EventReconnecting); e.Err == nil || e.Attempt != 1 || !e.Live {
		t.Errorf("reconnecting event %+v", e)
	}
}

func TestFileResumesWithRange(t *testing.T) {
	data := encodeMP3(t, 3)
	want := decodeAll(t, data)
	const cut = 30011
	var mu sync.Mutex
	var ranges, ifRanges []string
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/mpeg")
		w.Header().Set("ETag", `"v1"`)
		if r.Header.Get("Range") == "" {
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			w.Header().Set("Accept-Ranges", "bytes")
			writeSlowly(w, data[:cut])
			abort()
		}
		mu.Lock()
		ranges = append(ranges, r.Header.Get("Range"))
		ifRanges = append(ifRanges, r.Header.Get("If-Range"))
		mu.Unlock()
		http.ServeContent(w, r, "tone.mp3", time.Time{}, bytes.NewReader(data))
	})
	rec := newRecorder()
	s, err := Open(t.Context(), srv.URL+"/tone.mp3", fastOptions(rec))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := readAll(t, s)
	if err != io.EOF {
		t.Fatalf("read ended with %v, want io.EOF", err)
	}
	samePCM(t, "resumed file against the whole file", got, want)
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(ranges, []string{fmt.Sprintf("bytes=%d-", cut)}) || !slices.Equal(ifRanges, []string{`"v1"`}) {
		t.Errorf("resume requests had Range %q, If-Range %q; want one from byte %d", ranges, ifRanges, cut)
	}
	wantKinds := []EventKind{EventConnected, EventReconnecting, EventConnected}
	if k := rec.kinds(); !slices.Equal(k, wantKinds) {
		t.Errorf("events %v, want %v", k, wantKinds)
	}
	if st := s.Stats(); st.Live || st.Connects != 2 || st.Offset != int64(len(data)) {
		t.Errorf("stats %+v", st)
	}
}

func TestFileResumeRefused(t *testing.T) {
	data := encodeMP3(t, 2)
	const cut = 20011
	for _, tc := range []struct {
		name   string
		second func(w http.ResponseWriter, r *http.Request)
	}{
		{"server without ranges", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			w.Write(data)
		}},
		{"file changed", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("ETag", `"v2"`)
			http.ServeContent(w, r, "tone.mp3", time.Time{}, bytes.NewReader(data))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "audio/mpeg")
				if r.Header.Get("Range") == "" {
					w.Header().Set("ETag", `"v1"`)
					w.Header().Set("Content-Length", strconv.Itoa(len(data)))
					writeSlowly(w, data[:cut])
					abort()
				}
				tc.second(w, r)
			})
			rec := newRecorder()
			s, err := Open(t.Context(), srv.URL+"/tone.mp3", fastOptions(rec))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			got, err := readAll(t, s)
			if !errors.Is(err, ErrNoRange) {
				t.Fatalf("read ended with %v, want ErrNoRange", err)
			}
			samePCM(t, "PCM before the failed resume", got, decodeAll(t, data[:cut]))
			if e := rec.waitFor(t, EventFailed); !errors.Is(e.Err, ErrNoRange) {
				t.Errorf("failed event %+v", e)
			}
		})
	}
}

func TestStallIsDetected(t *testing.T) {
	data := encodeMP3(t, 2)
	want := decodeAll(t, data)
	const cut = 20011
	for _, live := range []bool{true, false} {
		t.Run(map[bool]string{true: "live reconnects", false: "file resumes"}[live], func(t *testing.T) {
			release := make(chan struct{})
			var hits atomic.Int32
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "audio/mpeg")
				n := hits.Add(1)
				switch {
				case n == 1:
					if !live {
						w.Header().Set("Content-Length", strconv.Itoa(len(data)))
					}
					writeSlowly(w, data[:cut])
					select { // the stall
					case <-r.Context().Done():
					case <-release:
					}
				case !live:
					http.ServeContent(w, r, "tone.mp3", time.Time{}, bytes.NewReader(data))
				case n == 2:
					writeSlowly(w, data)
				default:
					http.NotFound(w, r)
				}
			})
			t.Cleanup(func() { close(release) }) // runs before srv.Close
			rec := newRecorder()
			o := fastOptions(rec)
			o.StallTimeout = 300 * time.Millisecond
			s, err := Open(t.Context(), srv.URL, o)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			got, err := readAll(t, s)
			if e := rec.waitFor(t, EventReconnecting); !errors.Is(e.Err, ErrStalled) {
				t.Errorf("reconnecting because of %v, want ErrStalled", e.Err)
			}
			if live {
				if err == nil || !strings.Contains(err.Error(), "404") {
					t.Fatalf("stream ended with %v, want the 404 of the third connection", err)
				}
				samePCM(t, "PCM across the stall", got, slices.Concat(decodeAll(t, data[:cut]), want))
			} else {
				if err != io.EOF {
					t.Fatalf("file ended with %v, want io.EOF", err)
				}
				samePCM(t, "resumed file against the whole file", got, want)
			}
		})
	}
}

func TestConnectTimeout(t *testing.T) {
	url := rawServer(t, func(_ int, c net.Conn, _ *http.Request) {
		io.Copy(io.Discard, c) // never answer
	})
	_, err := Open(t.Context(), url+"/live", Options{ConnectTimeout: 300 * time.Millisecond})
	if !errors.Is(err, ErrConnectTimeout) {
		t.Fatalf("Open: %v, want ErrConnectTimeout", err)
	}
	if !strings.Contains(err.Error(), url) {
		t.Errorf("error %q does not name the URL", err)
	}
}

func TestHTTPErrorsNameStatusAndURLWithoutSecrets(t *testing.T) {
	for _, code := range []int{http.StatusNotFound, http.StatusInternalServerError, http.StatusUnauthorized} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "nope", code)
			})
			u := strings.Replace(srv.URL, "http://", "http://admin:hunter2@", 1) + "/mount.mp3?token=s3cret"
			rec := newRecorder()
			_, err := Open(t.Context(), u, fastOptions(rec))
			var he *HTTPError
			if !errors.As(err, &he) || he.StatusCode != code {
				t.Fatalf("Open: %v, want an HTTPError %d", err, code)
			}
			msg := err.Error()
			if !strings.Contains(msg, strconv.Itoa(code)) || !strings.Contains(msg, "/mount.mp3") {
				t.Errorf("error %q does not name the status and the URL", msg)
			}
			for _, secret := range []string{"hunter2", "admin", "s3cret"} {
				if strings.Contains(msg, secret) {
					t.Errorf("error %q shows %q", msg, secret)
				}
			}
			// Open does not retry, and reports its failure once (issue 7,
			// finding 8: a source that failed to open had no stream.failed).
			if k := rec.kinds(); !slices.Equal(k, []EventKind{EventFailed}) {
				t.Errorf("events %v, want one failed", k)
			}
			if e := rec.all(); len(e) == 1 && (strings.Contains(e[0].URL, "hunter2") || strings.Contains(e[0].URL, "s3cret")) {
				t.Errorf("the event shows a secret: %s", e[0].URL)
			}
		})
	}
}

func TestNotMP3ContentTypes(t *testing.T) {
	for _, tc := range []struct{ ct, body, want string }{
		{"text/html; charset=utf-8", "<html><body>Login</body></html>", "document"},
		{"audio/x-mpegurl", "http://example.com/live.mp3\n", "playlist"},
		{"audio/aacp", "\xff\xf1", "only MP3"},
	} {
		t.Run(tc.ct, func(t *testing.T) {
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.ct)
				io.WriteString(w, tc.body)
			})
			_, err := Open(t.Context(), srv.URL, Options{})
			if !errors.Is(err, ErrContentType) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open: %v, want ErrContentType saying %q", err, tc.want)
			}
		})
	}
}

func TestGarbageFailsClearly(t *testing.T) {
	noise := make([]byte, 1<<20)
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range noise {
		noise[i] = byte(rnd.Uint32())
	}
	for _, tc := range []struct {
		name string
		body []byte
		live bool
		want string
	}{
		{"random bytes, file", noise, false, "in the last"},
		{"random bytes, live", noise, true, "in the last"},
		{"short text file", bytes.Repeat([]byte("not an mp3\n"), 100), false, "ended after 1100 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/octet-stream")
				if !tc.live {
					w.Header().Set("Content-Length", strconv.Itoa(len(tc.body)))
				}
				writeSlowly(w, tc.body)
			})
			_, err := Open(t.Context(), srv.URL, Options{SyncLimit: 64 << 10})
			if !errors.Is(err, ErrNoAudio) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open: %v, want ErrNoAudio saying %q", err, tc.want)
			}
		})
	}
}

func TestCorruptionInsideAStream(t *testing.T) {
	data := encodeMP3(t, 2)
	want := decodeAll(t, data)
	noise := make([]byte, 1<<20)
	rnd := rand.New(rand.NewPCG(3, 4))
	for i := range noise {
		noise[i] = byte(rnd.Uint32())
	}
	// The last frames before the noise may be lost or garbled with it.
	const margin = 2 * 1152 * 2
	serve := func(body []byte) string {
		return newServer(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "audio/mpeg")
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			writeSlowly(w, body)
		}).URL
	}

	t.Run("a burst of noise is skipped", func(t *testing.T) {
		s, err := Open(t.Context(), serve(slices.Concat(data, noise[:20000], data)), Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		got, err := readAll(t, s)
		if err != io.EOF {
			t.Fatalf("read ended with %v, want io.EOF", err)
		}
		if i := firstDiff(got, want); i >= 0 && i < len(want)-margin {
			t.Errorf("first part differs at sample %d", i)
		}
		if len(got) < 2*len(want)-4*margin {
			t.Errorf("%d samples, want about %d: audio after the noise was lost", len(got), 2*len(want))
		}
	})
	t.Run("endless noise fails", func(t *testing.T) {
		rec := newRecorder()
		o := fastOptions(rec)
		o.SyncLimit = 64 << 10
		s, err := Open(t.Context(), serve(slices.Concat(data, noise)), o)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		got, err := readAll(t, s)
		if !errors.Is(err, ErrNoAudio) {
			t.Fatalf("read ended with %v, want ErrNoAudio", err)
		}
		if len(got) < len(want)-margin || firstDiff(got, want) >= 0 && firstDiff(got, want) < len(want)-margin {
			t.Errorf("the audio before the noise was not played in full")
		}
		if e := rec.waitFor(t, EventFailed); !errors.Is(e.Err, ErrNoAudio) {
			t.Errorf("failed event %+v", e)
		}
		if st := s.Stats(); st.AudioBytes > int64(len(data))+200<<10 {
			t.Errorf("read %d bytes of noise before giving up, limit was 64 KiB", st.AudioBytes-int64(len(data)))
		}
	})
}

func TestGiveUpAfterMaxRetries(t *testing.T) {
	data := encodeMP3(t, 1)
	var hits atomic.Int32
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) > 1 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "audio/mpeg")
		writeSlowly(w, data[:10000])
		abort()
	})
	rec := newRecorder()
	o := fastOptions(rec)
	o.MaxRetries = 3
	s, err := Open(t.Context(), srv.URL, o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = readAll(t, s)
	var he *HTTPError
	if !errors.As(err, &he) || he.StatusCode != http.StatusServiceUnavailable || !strings.Contains(err.Error(), "gave up after 3") {
		t.Fatalf("read ended with %v, want giving up after 3 attempts on 503", err)
	}
	var attempts []int
	for _, e := range rec.all() {
		if e.Kind == EventReconnecting {
			attempts = append(attempts, e.Attempt)
		}
	}
	if !slices.Equal(attempts, []int{1, 2, 3}) {
		t.Errorf("reconnection attempts %v, want 1, 2, 3", attempts)
	}
	if rec.count(EventFailed) != 1 || hits.Load() != 4 {
		t.Errorf("events %v after %d requests", rec.kinds(), hits.Load())
	}
	if _, err2 := s.Read(make([]int16, 100)); err2 != err {
		t.Errorf("Read after failure: %v, want the same error again", err2)
	}
}

func TestBackoffWaitsOnTheInjectedClock(t *testing.T) {
	data := encodeMP3(t, 2)
	var hits atomic.Int32
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/mpeg")
		if hits.Add(1) == 1 {
			writeSlowly(w, data[:10000])
			abort()
		}
		writeSlowly(w, data)
	})
	clk := clock.NewFake(time.Date(2025, 9, 1, 5, 30, 0, 0, time.UTC))
	rec := newRecorder()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	s, err := Open(ctx, srv.URL, Options{
		Clock:       clk,
		BackoffBase: time.Second,
		Rand:        func(n int64) int64 { return n - 1 }, // always the ceiling
		OnEvent:     rec.on,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	readErr := make(chan error, 1)
	go func() {
		_, err := readUntilError(s)
		readErr <- err
	}()
	if e := rec.waitFor(t, EventReconnecting); e.Delay != time.Second {
		t.Fatalf("reconnecting after %v, want the backoff ceiling of 1s", e.Delay)
	}
	// The event comes just before the Stream arms its backoff timer (the
	// lost connection's watchdog timer is gone by then): wait for it.
	for deadline := time.Now().Add(waitLong); clk.Waiters() != 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d timers armed, want the backoff timer alone", clk.Waiters())
		}
	}
	clk.Advance(999 * time.Millisecond)
	if n := hits.Load(); n != 1 {
		t.Fatalf("%d requests before the backoff delay passed, want 1", n)
	}
	clk.Advance(time.Millisecond)
	deadline := time.Now().Add(waitLong)
	for rec.count(EventConnected) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no reconnection after the delay; events %v", rec.kinds())
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case err := <-readErr:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("read ended with %v, want context.Canceled", err)
		}
	case <-time.After(waitLong):
		t.Fatal("Read did not return after cancel")
	}
	if rec.count(EventFailed) != 0 {
		t.Errorf("a cancelled stream reported failure: %v", rec.kinds())
	}
}

func TestCloseInterruptsABlockedRead(t *testing.T) {
	data := encodeMP3(t, 1)
	release := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/mpeg")
		writeSlowly(w, data[:8000])
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) })
	rec := newRecorder()
	s, err := Open(t.Context(), srv.URL, Options{OnEvent: rec.on}) // 15 s stall timeout
	if err != nil {
		t.Fatal(err)
	}
	readErr := make(chan error, 1)
	go func() {
		_, err := readUntilError(s)
		readErr <- err
	}()
	deadline := time.Now().Add(waitLong)
	for s.Stats().AudioBytes < 8000 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-readErr:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("read ended with %v, want ErrClosed", err)
		}
	case <-time.After(waitLong):
		t.Fatal("Close did not interrupt Read")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Read(make([]int16, 100)); !errors.Is(err, ErrClosed) {
		t.Errorf("Read after Close: %v, want ErrClosed", err)
	}
	if rec.count(EventFailed) != 0 {
		t.Errorf("a closed stream reported failure: %v", rec.kinds())
	}
}
