package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Issue 7, finding 8: random bytes from an HTTP source ended the item
// without a stream.failed; every failure of Open is now reported, with a
// reason a tool can sort on.
func TestOpenFailuresAreReportedWithAReason(t *testing.T) {
	noise := make([]byte, 256<<10)
	rnd := rand.New(rand.NewPCG(5, 6))
	for i := range noise {
		noise[i] = byte(rnd.Uint32())
	}
	tests := []struct {
		name   string
		serve  http.HandlerFunc
		path   string
		reason string
	}{
		{"random bytes", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "audio/mpeg")
			writeSlowly(w, noise)
		}, "/radio", "no_audio"},
		{"a web page", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<html>captive portal</html>")
		}, "/radio", "not_mp3"},
		{"not found", http.NotFound, "/radio", "http_status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, tt.serve)
			rec := newRecorder()
			_, err := Open(t.Context(), srv.URL+tt.path, fastOptions(rec))
			if err == nil {
				t.Fatal("Open succeeded")
			}
			e := rec.waitFor(t, EventFailed)
			if e.Err == nil || e.Err.Error() != err.Error() || Reason(e.Err) != tt.reason {
				t.Errorf("failed event %v (reason %q); want Open's error %v with reason %q", e.Err, Reason(e.Err), err, tt.reason)
			}
			if !strings.HasPrefix(e.URL, srv.URL) {
				t.Errorf("event URL %q", e.URL)
			}
		})
	}
	t.Run("bad URL", func(t *testing.T) {
		rec := newRecorder()
		_, err := Open(t.Context(), "ftp://user:hunter2@example.com/a.mp3", fastOptions(rec))
		if e := rec.waitFor(t, EventFailed); Reason(e.Err) != "bad_url" || !errors.Is(err, ErrScheme) || strings.Contains(e.URL, "hunter2") {
			t.Errorf("event %+v for %v", e, err)
		}
	})
	t.Run("cancelled is not a failure", func(t *testing.T) {
		arrived := make(chan struct{}, 1)
		srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			arrived <- struct{}{}
			<-r.Context().Done()
		})
		rec := newRecorder()
		o := fastOptions(rec)
		ctx, cancel := context.WithCancel(t.Context())
		go func() {
			<-arrived
			cancel()
		}()
		if _, err := Open(ctx, srv.URL, o); err == nil {
			t.Fatal("Open succeeded")
		}
		if n := rec.count(EventFailed); n != 0 {
			t.Errorf("%d failed events for a cancelled Open", n)
		}
	})
}

func TestReasonNamesEveryError(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{fmt.Errorf("gave up after 3 reconnection attempts: %w", ErrStalled), "stalled"},
		{&HTTPError{StatusCode: 403}, "http_status"},
		{ErrConnectTimeout, "connect_timeout"},
		{ErrTooSlow, "too_slow"},
		{ErrNoRange, "no_range"},
		{ErrFormatChanged, "format_changed"},
		{ErrRedirect, "redirect"},
		{ErrHeaderTooLarge, "header_too_large"},
		{ErrClosed, "closed"},
		{errors.New("connection reset by peer"), "network"},
	} {
		if got := Reason(tt.err); got != tt.want {
			t.Errorf("Reason(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// trickle sends body one byte every gap, flushing each, until the client
// goes away.
func trickle(w http.ResponseWriter, r *http.Request, body []byte, gap time.Duration) {
	f := w.(http.Flusher)
	for _, b := range body {
		if _, err := w.Write([]byte{b}); err != nil {
			return
		}
		f.Flush()
		select {
		case <-r.Context().Done():
			return
		case <-time.After(gap):
		}
	}
}

// Issue 7, finding 8: a source trickling one byte every half second kept
// an item, and the amplifier, on for hours. The connection is cut when it
// falls below the byte-rate bound, replaced, and after MaxSlowCuts cuts
// in a row the Stream fails with ErrTooSlow.
func TestTricklingServerIsCutThenFails(t *testing.T) {
	data := encodeMP3(t, 20)
	tests := []struct {
		name  string
		fast  int // bytes sent at once before the trickle
		where string
	}{
		{"from the start", 0, "Open"},
		// A burst on connect passes its first window: the connection
		// must also pass the next one to count as healthy.
		{"after a burst", 64 << 10, "Read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hits atomic.Int32
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				w.Header().Set("Content-Type", "audio/mpeg")
				w.Header().Set("icy-name", "slow radio")
				w.Write(data[:tt.fast])
				trickle(w, r, data[tt.fast:], 20*time.Millisecond) // 50 B/s
			})
			rec := newRecorder()
			o := fastOptions(rec)
			o.MaxRetries = 10
			o.SlowWindow = 200 * time.Millisecond
			s, err := Open(t.Context(), srv.URL+"/live", o)
			if tt.where == "Read" {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				defer s.Close()
				_, err = readAll(t, s)
			}
			if !errors.Is(err, ErrTooSlow) || !strings.Contains(err.Error(), "too slow") {
				t.Fatalf("%s ended with %v, want ErrTooSlow", tt.where, err)
			}
			if n := rec.count(EventReconnecting); n != DefaultMaxSlowCuts {
				t.Errorf("%d reconnections, want %d: %v", n, DefaultMaxSlowCuts, rec.kinds())
			}
			if n := hits.Load(); n != DefaultMaxSlowCuts+1 {
				t.Errorf("%d connections, want %d", n, DefaultMaxSlowCuts+1)
			}
			if e := rec.waitFor(t, EventFailed); Reason(e.Err) != "too_slow" {
				t.Errorf("failed event: %v", e.Err)
			}
		})
	}
}

// A stream that arrives at its own pace (as live radio does) is not cut,
// however long the caller waits on it.
func TestRealTimeStreamIsNotTooSlow(t *testing.T) {
	data := encodeMP3(t, 3)
	want := decodeAll(t, data)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/mpeg")
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		// 128 kbit/s in tenths of a second: real time.
		f := w.(http.Flusher)
		for body := data; len(body) > 0; {
			n := min(1600, len(body))
			w.Write(body[:n])
			f.Flush()
			body = body[n:]
			time.Sleep(100 * time.Millisecond)
		}
	})
	rec := newRecorder()
	o := fastOptions(rec)
	o.SlowWindow = 300 * time.Millisecond
	s, err := Open(t.Context(), srv.URL, o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := readAll(t, s)
	if err != io.EOF {
		t.Fatalf("read ended with %v, want io.EOF", err)
	}
	samePCM(t, "paced file", got, want)
	if n := rec.count(EventReconnecting); n != 0 {
		t.Errorf("a real-time stream was cut: %v", rec.all())
	}
}

// Issue 7's "limits everywhere": redirects only to http(s), and counted.
func TestRedirectsAreBoundedAndOnlyToHTTP(t *testing.T) {
	data := encodeMP3(t, 1)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if n, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/hop/")); err == nil && n > 0 {
			http.Redirect(w, r, fmt.Sprintf("/hop/%d", n-1), http.StatusFound)
			return
		}
		switch r.URL.Path {
		case "/to-ftp":
			http.Redirect(w, r, "ftp://user:hunter2@example.com/a.mp3", http.StatusFound)
			return
		case "/to-file":
			http.Redirect(w, r, "file:///etc/passwd", http.StatusMovedPermanently)
			return
		}
		w.Header().Set("Content-Type", "audio/mpeg")
		w.Write(data)
	})
	tests := []struct {
		path string
		ok   bool
		want string
	}{
		{fmt.Sprintf("/hop/%d", DefaultMaxRedirects), true, ""},
		{fmt.Sprintf("/hop/%d", DefaultMaxRedirects+1), false, "more than 5 redirects"},
		{"/to-ftp", false, `scheme "ftp"`},
		{"/to-file", false, `scheme "file"`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			rec := newRecorder()
			s, err := Open(t.Context(), srv.URL+tt.path, fastOptions(rec))
			if tt.ok {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				s.Close()
				return
			}
			if !errors.Is(err, ErrRedirect) || !strings.Contains(err.Error(), tt.want) || Reason(err) != "redirect" {
				t.Fatalf("Open: %v, want ErrRedirect saying %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

// Issue 7's "limits everywhere": net/http would read 10 MiB of response
// headers before a stream starts.
func TestHugeResponseHeadersAreRefused(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		for i := range 8 {
			w.Header().Set(fmt.Sprintf("X-Junk-%d", i), strings.Repeat("a", 8<<10))
		}
		w.Header().Set("Content-Type", "audio/mpeg")
		io.WriteString(w, "whatever")
	})
	rec := newRecorder()
	_, err := Open(t.Context(), srv.URL, fastOptions(rec))
	if !errors.Is(err, ErrHeaderTooLarge) || Reason(err) != "header_too_large" {
		t.Fatalf("Open: %v, want ErrHeaderTooLarge", err)
	}
}
