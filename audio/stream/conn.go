package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/loaxa/loaxa/internal/clock"
)

// watchdog cancels a connection's context when its deadline passes: the
// connect deadline until the response headers arrive, then, during each
// read of the body, the stall deadline. Between reads it is disarmed, so
// time the caller spends elsewhere never counts as a stall.
//
// One timer serves all reads: arming only stores a deadline, and the
// goroutine re-arms its timer for what is left when it fires early. That
// keeps the cost of a read to one clock reading.
type watchdog struct {
	clk      clock.Clock
	cancel   context.CancelCauseFunc
	deadline atomic.Int64 // unix nanoseconds; 0 when disarmed
	cause    atomic.Pointer[error]
	done     chan struct{}
}

// startWatchdog arms the watchdog with d and cause and starts its
// goroutine, which ends when ctx ends (the connection's owner cancels ctx
// when it closes the connection) and is waited for by wait. The goroutine
// checks at least every tick, which must not exceed any duration later
// passed to arm, so that no deadline is noticed late.
func startWatchdog(ctx context.Context, cancel context.CancelCauseFunc, clk clock.Clock, tick, d time.Duration, cause error) *watchdog {
	w := &watchdog{clk: clk, cancel: cancel, done: make(chan struct{})}
	w.arm(d, cause)
	go w.run(ctx, min(tick, d))
	return w
}

func (w *watchdog) arm(d time.Duration, cause error) {
	w.cause.Store(&cause)
	w.deadline.Store(w.clk.Now().Add(d).UnixNano())
}

func (w *watchdog) disarm() { w.deadline.Store(0) }

func (w *watchdog) run(ctx context.Context, tick time.Duration) {
	defer close(w.done)
	t := w.clk.NewTimer(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		next := tick
		if dl := w.deadline.Load(); dl != 0 {
			left := time.Duration(dl - w.clk.Now().UnixNano())
			if left <= 0 {
				w.cancel(*w.cause.Load())
				return
			}
			next = left
		}
		t.Reset(next)
	}
}

func (w *watchdog) wait() { <-w.done }

// conn is one HTTP response being read.
type conn struct {
	resp   *http.Response
	body   io.Reader // audio bytes only: ICY metadata removed
	icy    *icyReader
	ctx    context.Context
	cancel context.CancelCauseFunc
	wd     *watchdog
	stall  time.Duration
	raw    int64 // body bytes received (metadata included)
	rate   rateCheck
}

// Read reads the body with the stall watchdog armed, and checks the byte
// rate over the time spent waiting.
func (c *conn) readRaw(p []byte) (int, error) {
	start := c.wd.clk.Now()
	c.wd.arm(c.stall, ErrStalled)
	n, err := c.resp.Body.Read(p)
	c.wd.disarm()
	c.raw += int64(n)
	if err != nil && !errors.Is(err, io.EOF) {
		// The watchdog's cause says why a cancelled read failed.
		if cause := context.Cause(c.ctx); cause != nil && !errors.Is(cause, context.Canceled) {
			err = cause
		}
	}
	if err == nil {
		err = c.rate.account(n, c.wd.clk.Now().Sub(start))
	}
	return n, err
}

// rateCheck bounds how slowly a connection may deliver (see
// Options.SlowWindow): over each window of time spent waiting for the
// network, at least floor bytes per second, and a quarter of the
// stream's own rate when it is known.
//
// A connection proves itself healthy with two windows in a row that meet
// the bound: one is not enough, as a server that sends a burst on connect
// and then trickles passes its first window on the burst alone, and
// would otherwise be reconnected for ever.
type rateCheck struct {
	window time.Duration
	floor  float64
	expect func() float64 // the stream's byte rate; 0 when unknown
	passed func()         // the connection proved itself healthy
	waited time.Duration
	got    int64
	passes int // windows in a row that met the bound
}

func (r *rateCheck) account(n int, waited time.Duration) error {
	r.waited += waited
	r.got += int64(n)
	if r.waited < r.window {
		return nil
	}
	need := max(r.floor, r.expect()/4)
	got, secs := r.got, r.waited.Seconds()
	r.waited, r.got = 0, 0
	if float64(got) < need*secs {
		return fmt.Errorf("%w: %d bytes in %.1f s of waiting, want at least %.0f bytes/s", ErrTooSlow, got, secs, need)
	}
	if r.passes++; r.passes >= 2 {
		r.passed()
	}
	return nil
}

type rawReader struct{ c *conn }

func (r rawReader) Read(p []byte) (int, error) { return r.c.readRaw(p) }

// close ends the response and the watchdog, and waits for the latter.
func (c *conn) close() {
	c.cancel(context.Canceled)
	c.resp.Body.Close()
	c.wd.wait()
}

// request describes what connect asks for.
type request struct {
	offset    int64  // Range start; 0 for the whole resource
	validator string // If-Range value (ETag or Last-Modified), with offset
}

// connect sends one GET and checks the response: status, content type,
// icy-metaint, and for a resume the Content-Range. On success the
// connection's body is ready to read.
func (s *Stream) connect(rq request) (*conn, error) {
	ctx, cancel := context.WithCancelCause(s.ctx)
	wd := startWatchdog(ctx, cancel, s.o.Clock, min(s.o.ConnectTimeout, s.o.StallTimeout), s.o.ConnectTimeout, ErrConnectTimeout)
	fail := func(err error) (*conn, error) {
		cancel(context.Canceled)
		wd.wait()
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url.String(), nil)
	if err != nil {
		return fail(fmt.Errorf("stream %s: %w", s.shown, err))
	}
	req.Header.Set("Icy-MetaData", "1")
	req.Header.Set("User-Agent", s.o.UserAgent)
	req.Header.Set("Accept", "audio/mpeg, */*;q=0.1")
	if rq.offset > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", rq.offset))
		if rq.validator != "" {
			req.Header.Set("If-Range", rq.validator)
		}
	}
	resp, err := s.o.Client.Do(req)
	if err != nil {
		return fail(s.requestError(ctx, err))
	}
	wd.disarm()
	c := &conn{resp: resp, ctx: ctx, cancel: cancel, wd: wd, stall: s.o.StallTimeout, rate: rateCheck{
		window: s.o.SlowWindow,
		floor:  float64(s.o.MinByteRate),
		expect: s.byteRate,
		passed: func() { s.slowCuts = 0 },
	}}
	if err := s.checkResponse(c, rq); err != nil {
		resp.Body.Close()
		return fail(err)
	}
	c.body = rawReader{c}
	if mi := resp.Header.Get("Icy-Metaint"); mi != "" {
		n, err := strconv.Atoi(strings.TrimSpace(mi))
		if err != nil || n <= 0 || n > maxMetaInt {
			resp.Body.Close()
			return fail(fmt.Errorf("stream %s: icy-metaint %q is not a block size in 1..%d, cannot remove metadata", s.shown, mi, maxMetaInt))
		}
		c.icy = newICYReader(c.body, n, s.onMeta)
		c.body = c.icy
	}
	return c, nil
}

// requestError turns a failed client.Do into the package's error: the
// watchdog's or the Stream's reason if one of them cancelled, the transport
// error otherwise, always with the redacted URL (the *url.Error of net/http
// would print the query, and the user name).
func (s *Stream) requestError(ctx context.Context, err error) error {
	if s.ctx.Err() != nil {
		return s.stopped()
	}
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause
	} else {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		// net/http says so only in words.
		if strings.Contains(err.Error(), "server response headers exceeded") {
			err = fmt.Errorf("%w: %v", ErrHeaderTooLarge, err)
		}
	}
	return fmt.Errorf("stream %s: %w", s.shown, err)
}

func (s *Stream) stopped() error {
	return fmt.Errorf("stream %s: stopped: %w", s.shown, context.Cause(s.ctx))
}

// checkResponse accepts the status and content type of resp, and for a
// resumed file the range it covers.
func (s *Stream) checkResponse(c *conn, rq request) error {
	resp := c.resp
	switch {
	case rq.offset > 0 && resp.StatusCode == http.StatusOK:
		return fmt.Errorf("%w %s at byte %d: the server sent the whole file again instead of a range (it does not support ranges, or the file changed)", ErrNoRange, s.shown, rq.offset)
	case rq.offset > 0 && resp.StatusCode == http.StatusPartialContent:
		start, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != rq.offset {
			return fmt.Errorf("%w %s at byte %d: the server sent Content-Range %q", ErrNoRange, s.shown, rq.offset, resp.Header.Get("Content-Range"))
		}
		if total >= 0 && s.size >= 0 && total != s.size {
			return fmt.Errorf("%w %s at byte %d: the file is now %d bytes, was %d", ErrNoRange, s.shown, rq.offset, total, s.size)
		}
	case resp.StatusCode != http.StatusOK:
		return &HTTPError{StatusCode: resp.StatusCode, Status: resp.Status, URL: s.shown}
	}
	return s.checkContentType(resp.Header.Get("Content-Type"))
}

// checkContentType rejects what is clearly not an MP3 stream, and lets
// anything else through to the decoder, which has the last word: servers
// label MP3 in many ways (audio/mpeg, audio/mp3, application/octet-stream,
// nothing at all).
func (s *Stream) checkContentType(ct string) error {
	if ct == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return nil
	}
	var why string
	switch {
	case strings.HasPrefix(mt, "text/"), mt == "application/xhtml+xml", mt == "application/json", mt == "application/xml":
		why = "a document, not audio (a login page or an error page?)"
	case mt == "audio/x-mpegurl", mt == "audio/mpegurl", mt == "application/vnd.apple.mpegurl",
		mt == "application/x-mpegurl", mt == "audio/x-scpls", mt == "application/pls+xml", mt == "video/x-ms-asf":
		why = "a playlist: use the stream URL listed inside it"
	case mt == "audio/aac", mt == "audio/aacp", mt == "audio/x-aac", mt == "audio/ogg", mt == "application/ogg",
		mt == "audio/opus", mt == "audio/flac", mt == "audio/x-flac", mt == "audio/wav", mt == "audio/x-wav",
		mt == "audio/mp4", mt == "audio/webm":
		why = "another codec; only MP3 is supported"
	default:
		return nil
	}
	return fmt.Errorf("%w: %s is %s: %s", ErrContentType, s.shown, mt, why)
}

// parseContentRange parses "bytes START-END/TOTAL"; total is -1 for "*".
func parseContentRange(v string) (start, total int64, ok bool) {
	v, found := strings.CutPrefix(strings.TrimSpace(v), "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, tot, found := strings.Cut(v, "/")
	if !found {
		return 0, 0, false
	}
	first, _, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	start, err := strconv.ParseInt(strings.TrimSpace(first), 10, 64)
	if err != nil || start < 0 {
		return 0, 0, false
	}
	total = -1
	if tot != "*" {
		if total, err = strconv.ParseInt(strings.TrimSpace(tot), 10, 64); err != nil {
			return 0, 0, false
		}
	}
	return start, total, true
}
