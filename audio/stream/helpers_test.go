package stream

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/loaxa/loaxa/audio/mpg123"
	"github.com/loaxa/loaxa/internal/audiotest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitLong bounds how long a test waits for something that should happen
// within milliseconds. It is not a timing assertion: it only turns a hang
// into a failure.
const waitLong = 10 * time.Second

// encodeMP3 encodes seconds of a stereo tone (440 Hz left, 660 Hz right)
// to 128 kbit/s MP3 with ffmpeg, as the test data of this package is made
// at test time rather than committed.
func encodeMP3(tb testing.TB, seconds float64) []byte {
	tb.Helper()
	return audiotest.Encode(tb, "tone.mp3", append(audiotest.SineInput(seconds, 0, 440, 660), "-b:a", "128k")...)
}

// decodeAll is the reference: the same bytes decoded in one go.
func decodeAll(tb testing.TB, data []byte) []int16 {
	tb.Helper()
	r, err := mpg123.NewReader(bytes.NewReader(data))
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	var pcm []int16
	buf := make([]int16, 4096)
	for {
		n, err := r.Read(buf)
		pcm = append(pcm, buf[:n]...)
		if err == io.EOF {
			return pcm
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
}

// readAll reads s until an error, with an odd buffer size so that reads end
// in the middle of MPEG frames. A Stream that hangs fails the test (after
// waitLong) rather than the whole test binary.
func readAll(t *testing.T, s *Stream) ([]int16, error) {
	t.Helper()
	type result struct {
		pcm []int16
		err error
	}
	done := make(chan result, 1)
	go func() {
		pcm, err := readUntilError(s)
		done <- result{pcm, err}
	}()
	select {
	case r := <-done:
		return r.pcm, r.err
	case <-time.After(waitLong):
		s.Close() // ends the reading goroutine
		<-done
		t.Fatalf("Read hangs; stats %+v", s.Stats())
		return nil, nil
	}
}

func readUntilError(s *Stream) ([]int16, error) {
	var pcm []int16
	buf := make([]int16, 1000)
	for {
		n, err := s.Read(buf)
		pcm = append(pcm, buf[:n]...)
		if err != nil {
			return pcm, err
		}
	}
}

// samePCM fails unless got equals want, sample for sample.
func samePCM(t *testing.T, what string, got, want []int16) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d samples, want %d", what, len(got), len(want))
	}
	if i := firstDiff(got, want); i >= 0 {
		t.Fatalf("%s: sample %d is %d, want %d", what, i, got[i], want[i])
	}
}

func firstDiff(a, b []int16) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

// recorder collects a Stream's events.
type recorder struct {
	mu     sync.Mutex
	events []Event
	notify chan struct{}
}

func newRecorder() *recorder { return &recorder{notify: make(chan struct{}, 1)} }

func (r *recorder) on(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

func (r *recorder) all() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

func (r *recorder) kinds() []EventKind {
	var k []EventKind
	for _, e := range r.all() {
		k = append(k, e.Kind)
	}
	return k
}

func (r *recorder) count(k EventKind) int {
	n := 0
	for _, e := range r.all() {
		if e.Kind == k {
			n++
		}
	}
	return n
}

func (r *recorder) titles() []string {
	var t []string
	for _, e := range r.all() {
		if e.Kind == EventTitle {
			t = append(t, e.Title)
		}
	}
	return t
}

// waitFor waits until an event of kind k has been recorded and returns it.
func (r *recorder) waitFor(t *testing.T, k EventKind) Event {
	t.Helper()
	deadline := time.After(waitLong)
	for {
		for _, e := range r.all() {
			if e.Kind == k {
				return e
			}
		}
		select {
		case <-r.notify:
		case <-deadline:
			t.Fatalf("no %q event; got %v", k, r.kinds())
		}
	}
}

// fastOptions retry at once and record events.
func fastOptions(rec *recorder) Options {
	return Options{
		BackoffBase: time.Millisecond,
		BackoffMax:  2 * time.Millisecond,
		MaxRetries:  1,
		OnEvent:     rec.on,
	}
}

// icyBody interleaves audio with ICY metadata blocks every metaint bytes;
// meta(i) is the text of block i ("" for an empty block).
func icyBody(audio []byte, metaint int, meta func(i int) string) []byte {
	var b bytes.Buffer
	for i := 0; len(audio) > 0; i++ {
		n := min(metaint, len(audio))
		b.Write(audio[:n])
		audio = audio[n:]
		if n < metaint {
			break
		}
		m := []byte(meta(i))
		blocks := (len(m) + 15) / 16
		b.WriteByte(byte(blocks))
		b.Write(m)
		b.Write(make([]byte, blocks*16-len(m)))
	}
	return b.Bytes()
}

// writeSlowly writes body in pieces, flushing each, so that the client sees
// many reads that end at arbitrary places.
func writeSlowly(w http.ResponseWriter, body []byte) {
	f, _ := w.(http.Flusher)
	for len(body) > 0 {
		n := min(3001, len(body))
		if _, err := w.Write(body[:n]); err != nil {
			return
		}
		if f != nil {
			f.Flush()
		}
		body = body[n:]
	}
}

// abort cuts the connection in the middle of a response, as a network
// failure would.
func abort() { panic(http.ErrAbortHandler) }

// newServer starts an httptest server closed at the end of the test.
func newServer(t *testing.T, h http.HandlerFunc) *httptest.Server { return newServerB(t, h) }

func newServerB(tb testing.TB, h http.HandlerFunc) *httptest.Server {
	tb.Helper()
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return srv
}

// rawServer is a TCP server for what httptest cannot do: answer with the
// "ICY 200 OK" status line of old Shoutcast servers, or never answer.
// serve gets each connection with its request already read.
func rawServer(t *testing.T, serve func(n int, c net.Conn, req *http.Request)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				serve(n, c, req)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "http://" + ln.Addr().String()
}
