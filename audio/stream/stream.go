package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/loaxa/loaxa/internal/redact"

	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/audio/mpg123"
	"github.com/loaxa/loaxa/internal/backoff"
)

// readChunk is how many compressed bytes one fill reads: about 1 s of
// 128 kbit/s audio, so the input waiting in the decoder stays small.
const readChunk = 16 << 10

// decodeAhead is how many samples Read has the decoder make at a time, at
// most: four MP3 frames of stereo (1,152 samples per channel each), 104 ms
// at 44.1 kHz. The pipeline reads 1,024 frames at a time, less than one
// MP3 frame; decoding each read in a cgo call of its own cost two calls
// per 40 ms batch, each waking the Go runtime's monitor thread (which
// then takes the processor away while libmpg123 decodes): 2.4 wake-ups
// per batch. Read serves the rest from the samples decoded ahead.
const decodeAhead = 4 * 1152 * 2

// maxWrongFormat is how long, in seconds of audio, a stream may decode in a
// format other than its own before it fails with ErrFormatChanged. Shorter
// runs are a corrupt frame that passed for a header of another rate, and are
// dropped rather than played as noise.
const maxWrongFormat = 2.0

// maxEmptyReads bounds reads that return neither bytes nor an error in a
// row, as bufio does, before the connection counts as lost.
const maxEmptyReads = 100

// Stream is an MP3 file or live stream over HTTP, decoded to PCM. It
// implements audio.Source. Read and Close are meant for one goroutine, but
// Close may also be called from another one to interrupt a Read; Title and
// Stats are safe from any goroutine.
type Stream struct {
	url    *url.URL
	shown  string // redacted URL, for errors, logs and events
	o      Options
	ctx    context.Context // the Stream's life: Open's context, ended by Close
	cancel context.CancelCauseFunc
	owned  bool // o.Client was made by Open and is cleaned up by Close
	format audio.Format
	bo     *backoff.Backoff

	readMu    sync.Mutex // held by Read and Close: the fields below belong to its holder
	conn      *conn      // nil after a connection was lost, until recover
	lost      error      // why conn was lost
	dec       *mpg123.Decoder
	decFormat audio.Format // format of the decoder's next samples; zero until known
	buf       []byte
	scratch   []int16 // decode target for samples in a wrong format
	ahead     []int16 // decode target for samples in the stream's format
	pcm       []int16 // decoded in the stream's format, not yet read: a part of ahead
	live      bool
	size      int64  // file size; -1 for a live stream
	offset    int64  // file bytes received so far: where a resume starts
	validator string // If-Range value for a resume
	failures  int    // lost connections and failed attempts since audio last flowed
	slowCuts  int    // connections cut in a row for being too slow (ErrTooSlow)
	junk      int64  // bytes fed since the last good samples, an ID3v2 tag excepted
	wrong     float64
	empty     int
	err       error // sticky: what Read returns from now on
	closed    bool

	mu    sync.Mutex // guards title and stats, which other goroutines read
	title string
	stats Stats
}

var _ audio.Source = (*Stream)(nil)

// Open connects to rawURL, an http:// or https:// MP3 file or
// Icecast/Shoutcast stream, and decodes until the audio format is known.
// The Stream lives until ctx ends or Close is called; reconnections happen
// only while it lives. Open fails with ErrScheme for another scheme before
// any I/O, with an *HTTPError for a status other than 200, ErrContentType,
// ErrNoAudio, ErrConnectTimeout, ErrStalled, or a network error; Open does
// not retry.
//
// Open's failures are reported too (an EventFailed, unless ctx ended), so
// that a source that never played says why as clearly as one that stopped.
func Open(ctx context.Context, rawURL string, o Options) (*Stream, error) {
	s, err := open(ctx, rawURL, o)
	if err != nil && ctx.Err() == nil && o.OnEvent != nil {
		e := Event{Kind: EventFailed, URL: redact.URL(rawURL), Err: err}
		if s != nil {
			e.URL, e.Live = s.shown, s.live
		}
		o.OnEvent(e)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// open is Open without the report; on a failure after the URL was checked
// it returns the closed Stream as well, for the report.
func open(ctx context.Context, rawURL string, o Options) (*Stream, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // ue.Error() would repeat the URL and its credentials
		}
		return nil, fmt.Errorf("%w: cannot parse it: %v", ErrScheme, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%w %s: scheme %q, want http or https", ErrScheme, redact.Parsed(u), u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%w %s: no host", ErrScheme, redact.Parsed(u))
	}
	owned := o.Client == nil
	o = o.withDefaults()
	sctx, cancel := context.WithCancelCause(ctx)
	s := &Stream{
		url:     u,
		shown:   redact.Parsed(u),
		o:       o,
		ctx:     sctx,
		cancel:  cancel,
		owned:   owned,
		bo:      backoff.New(o.BackoffBase, o.BackoffMax, o.Clock, o.Rand),
		buf:     make([]byte, readChunk),
		scratch: make([]int16, 4096),
		ahead:   make([]int16, decodeAhead),
		size:    -1,
	}
	s.stats.URL = s.shown
	s.stats.Size = -1
	if err := s.start(); err != nil {
		s.Close()
		if ctx.Err() == nil {
			s.o.Logger.Error("stream failed to open", "url", s.shown, "err", err)
		}
		return s, err
	}
	return s, nil
}

// start makes the first connection and decodes up to the first frame.
func (s *Stream) start() error {
	s.readMu.Lock()
	defer s.readMu.Unlock()
	c, err := s.connect(request{})
	if err != nil {
		return err
	}
	s.accept(c)
	if s.dec, err = mpg123.NewDecoder(); err != nil {
		return fmt.Errorf("stream %s: %w", s.shown, err)
	}
	for s.decFormat == (audio.Format{}) {
		_, err := s.dec.Decode(nil)
		switch {
		case errors.Is(err, mpg123.ErrNewFormat):
			s.newFormat()
		case err == nil, errors.Is(err, mpg123.ErrNeedMore):
			if err := s.fill(); err != nil {
				if err == io.EOF {
					return fmt.Errorf("%w from %s: the file ended after %d bytes without an MP3 frame", ErrNoAudio, s.shown, s.offset)
				}
				return err
			}
		case errors.Is(err, io.EOF):
			return fmt.Errorf("%w from %s: the stream ended before its first frame", ErrNoAudio, s.shown)
		default:
			return fmt.Errorf("stream %s: decoding: %w", s.shown, err)
		}
	}
	s.format = s.decFormat
	return nil
}

// accept makes c the current connection. The first response decides
// whether this is a file or a live stream.
func (s *Stream) accept(c *conn) {
	h := c.resp.Header
	first := s.stats.Connects == 0
	if first {
		s.live = c.resp.ContentLength < 0 || hasICY(h)
		if !s.live {
			s.size = c.resp.ContentLength
			// If-Range needs a strong ETag; Last-Modified serves otherwise.
			if et := h.Get("ETag"); et != "" && !strings.HasPrefix(et, "W/") {
				s.validator = et
			} else {
				s.validator = h.Get("Last-Modified")
			}
		}
	}
	s.conn, s.lost, s.empty = c, nil, 0
	s.mu.Lock()
	s.stats.Live = s.live
	s.stats.Size = s.size
	s.stats.ContentType = h.Get("Content-Type")
	s.stats.Name = cleanTitle([]byte(h.Get("Icy-Name")))
	s.stats.Bitrate, _ = strconv.Atoi(strings.TrimSpace(h.Get("Icy-Br")))
	s.stats.MetaInt = 0
	if c.icy != nil {
		s.stats.MetaInt = c.icy.metaint
	}
	s.stats.Connects++
	s.mu.Unlock()
	s.o.Logger.Info("stream connected", "url", s.shown, "live", s.live, "content_type", s.stats.ContentType, "offset", s.offset)
	s.emit(Event{Kind: EventConnected})
}

func hasICY(h http.Header) bool {
	for k := range h {
		if strings.HasPrefix(k, "Icy-") {
			return true
		}
	}
	return false
}

// Format reports the stream's sample rate and channel count, known since
// Open returned. It does not change (see Read).
func (s *Stream) Format() audio.Format { return s.format }

// Read decodes interleaved samples into p, whole frames only, and returns
// how many it wrote. It reads the network only when the decoder needs more
// input, and reconnects or resumes on the way when the connection was lost.
// It returns io.EOF at the end of a file (a live stream has none), and
// otherwise a terminal error that it keeps returning: the Stream gave up
// (an EventFailed reports it), or its context ended, or it was closed.
//
// Samples that the decoder produces in another format than Format (a corrupt
// frame that looked like a header of another rate) are dropped and counted
// in Stats.Dropped; if that lasts longer than two seconds of audio, the
// server really changed format and Read fails with ErrFormatChanged.
func (s *Stream) Read(p []int16) (int, error) {
	s.readMu.Lock()
	defer s.readMu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	if s.err != nil {
		return 0, s.err
	}
	ch := s.format.Channels
	if len(p) == 0 {
		return 0, nil
	}
	if len(p) < ch {
		return 0, fmt.Errorf("stream %s: Read needs room for one frame (%d samples), got %d", s.shown, ch, len(p))
	}
	p = p[:len(p)-len(p)%ch]
	for {
		if len(s.pcm) > 0 {
			n := copy(p, s.pcm)
			s.pcm = s.pcm[n:]
			s.mu.Lock()
			s.stats.Samples += int64(n)
			s.mu.Unlock()
			return n, nil
		}
		out := s.ahead
		if s.decFormat != s.format {
			out = s.scratch
		}
		n, err := s.dec.Decode(out)
		if n > 0 {
			if s.decFormat == s.format {
				// Whole frames of the stream's format, served above.
				s.good()
				s.pcm = out[:n]
				if errors.Is(err, mpg123.ErrNewFormat) {
					s.newFormat()
				}
				continue
			}
			if err := s.wrongFormat(n); err != nil {
				return 0, s.fail(err)
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, mpg123.ErrNewFormat):
			s.newFormat()
		case errors.Is(err, mpg123.ErrNeedMore):
			if err := s.fill(); err != nil {
				return 0, s.fail(err)
			}
		case errors.Is(err, io.EOF):
			// libmpg123 saw an end-of-stream marker: the end of a file, a
			// connection to replace for a live stream.
			if !s.live {
				return 0, s.fail(io.EOF)
			}
			s.drop(io.EOF)
			if err := s.recover(); err != nil {
				return 0, s.fail(err)
			}
		default:
			return 0, s.fail(fmt.Errorf("stream %s: decoding: %w", s.shown, err))
		}
	}
}

// good says that samples in the stream's format came out of the decoder:
// audio flows, so the junk count and the run of failures start again.
func (s *Stream) good() {
	s.junk, s.wrong = 0, 0
	if s.failures > 0 {
		s.failures = 0
		s.bo.Reset()
	}
}

func (s *Stream) wrongFormat(n int) error {
	s.mu.Lock()
	s.stats.Dropped += int64(n)
	s.mu.Unlock()
	s.wrong += float64(n) / float64(s.decFormat.Rate*s.decFormat.Channels)
	if s.wrong > maxWrongFormat {
		return fmt.Errorf("stream %s: %w from %v to %v", s.shown, ErrFormatChanged, s.format, s.decFormat)
	}
	return nil
}

func (s *Stream) newFormat() {
	rate, channels, _ := s.dec.Format()
	s.decFormat = audio.Format{Rate: rate, Channels: channels}
}

// fill feeds the decoder one chunk of input, after reconnecting or resuming
// if the connection was lost. It returns io.EOF at the complete end of a
// file, and a terminal error when the Stream must give up.
func (s *Stream) fill() error {
	if s.junk > s.o.SyncLimit {
		return fmt.Errorf("%w in the last %d bytes from %s (not MP3, or corrupt)", ErrNoAudio, s.junk, s.shown)
	}
	if s.conn == nil {
		if err := s.recover(); err != nil {
			return err
		}
	}
	n, err := s.conn.body.Read(s.buf)
	if n > 0 {
		s.empty = 0
		if s.offset == 0 && s.stats.AudioBytes == 0 {
			s.junk -= id3Size(s.buf[:n])
		}
		if ferr := s.dec.Feed(s.buf[:n]); ferr != nil {
			return fmt.Errorf("stream %s: %w", s.shown, ferr)
		}
		s.junk += int64(n)
		if !s.live {
			s.offset += int64(n)
		}
		s.mu.Lock()
		s.stats.AudioBytes += int64(n)
		s.stats.Offset = s.offset
		s.mu.Unlock()
	} else if err == nil {
		if s.empty++; s.empty >= maxEmptyReads {
			err = io.ErrNoProgress
		}
	}
	if err != nil {
		s.drop(err)
	}
	return nil
}

// drop closes the current connection, remembering why for recover.
func (s *Stream) drop(err error) {
	if s.conn.icy != nil {
		s.mu.Lock()
		s.stats.MetaBytes += s.conn.icy.metaN
		s.mu.Unlock()
	}
	s.conn.close()
	s.conn = nil
	if errors.Is(err, ErrTooSlow) {
		s.slowCuts++
	}
	if errors.Is(err, io.EOF) {
		s.lost = fmt.Errorf("stream %s: the server ended the response: %w", s.shown, err)
	} else {
		s.lost = fmt.Errorf("stream %s: connection lost: %w", s.shown, err)
	}
}

// recover replaces a lost connection: nothing to do at the complete end of
// a file (io.EOF), a Range request from the byte reached for a file, a new
// connection for a live stream, retried with backoff up to MaxRetries
// attempts in a row.
func (s *Stream) recover() error {
	cause := s.lost
	if s.ctx.Err() != nil {
		return s.stopped()
	}
	if !s.live && errors.Is(cause, io.EOF) && s.offset == s.size {
		return io.EOF
	}
	for {
		if !s.retryable(cause) {
			return cause
		}
		if errors.Is(cause, ErrTooSlow) && s.slowCuts > s.o.MaxSlowCuts {
			return fmt.Errorf("gave up after %d connections in a row were too slow: %w", s.slowCuts, cause)
		}
		s.failures++
		s.mu.Lock()
		s.stats.Failures++
		s.mu.Unlock()
		if s.o.MaxRetries >= 0 && s.failures > s.o.MaxRetries {
			return fmt.Errorf("gave up after %d reconnection attempts: %w", s.failures-1, cause)
		}
		delay := s.bo.Next()
		s.o.Logger.Warn("stream reconnecting", "url", s.shown, "err", cause, "attempt", s.failures, "delay", delay)
		s.emit(Event{Kind: EventReconnecting, Err: cause, Attempt: s.failures, Delay: delay})
		if err := s.sleep(delay); err != nil {
			return s.stopped()
		}
		rq := request{}
		if !s.live {
			rq = request{offset: s.offset, validator: s.validator}
		}
		c, err := s.connect(rq)
		if err != nil {
			if s.ctx.Err() != nil {
				return s.stopped()
			}
			cause = err
			continue
		}
		if s.live {
			// A new connection starts at an arbitrary point of the live
			// stream: a fresh decoder keeps the old connection's last
			// half frame from being glued to it.
			dec, err := mpg123.NewDecoder()
			if err != nil {
				c.close()
				return fmt.Errorf("stream %s: %w", s.shown, err)
			}
			s.dec.Close()
			s.dec, s.decFormat = dec, audio.Format{}
		}
		s.accept(c)
		return nil
	}
}

// retryable tells a lost connection or failed attempt that another attempt
// may cure from one that it will not.
func (s *Stream) retryable(err error) bool {
	if errors.Is(err, ErrContentType) {
		// A live stream's server that answers with a page for a while
		// (a captive portal of the mobile network, a proxy's error page)
		// may come back; a file that turned into a page will not.
		return s.live
	}
	if errors.Is(err, ErrNoRange) || errors.Is(err, ErrNoAudio) {
		return false
	}
	var he *HTTPError
	if errors.As(err, &he) {
		switch {
		case he.StatusCode == http.StatusUnauthorized, he.StatusCode == http.StatusProxyAuthRequired:
			return false
		case s.live:
			// Icecast answers 404 while the mount's source is away, and 403
			// when it is full: both pass.
			return true
		default:
			return he.StatusCode == http.StatusRequestTimeout || he.StatusCode == http.StatusTooManyRequests || he.StatusCode >= 500
		}
	}
	return true
}

func (s *Stream) sleep(d time.Duration) error {
	t := s.o.Clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.ctx.Done():
		return s.ctx.Err()
	case <-t.C():
		return nil
	}
}

// fail makes err the Stream's final answer and reports it, unless it is
// the end of a file or of the Stream's life.
func (s *Stream) fail(err error) error {
	s.err = err
	if s.conn != nil {
		s.drop(err)
	}
	if err == io.EOF || s.ctx.Err() != nil {
		return err
	}
	s.o.Logger.Error("stream failed", "url", s.shown, "err", err)
	s.emit(Event{Kind: EventFailed, Err: err})
	return err
}

// onMeta receives each ICY metadata block.
func (s *Stream) onMeta(block []byte) {
	title, ok := parseTitle(block)
	if !ok {
		return
	}
	s.mu.Lock()
	changed := title != s.title
	s.title = title
	s.mu.Unlock()
	if changed {
		s.emit(Event{Kind: EventTitle, Title: title})
	}
}

func (s *Stream) emit(e Event) {
	if s.o.OnEvent == nil {
		return
	}
	e.URL, e.Live = s.shown, s.live
	s.o.OnEvent(e)
}

// byteRate estimates the stream's own byte rate, for the bound on slow
// connections: compressed bytes per second of audio decoded so far, once
// ten seconds were (the bytes waiting in the decoder then skew it
// little), else the icy-br the server announced, else 0 (unknown).
func (s *Stream) byteRate() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.format; f.Valid() && s.stats.Samples >= 10*int64(f.Rate*f.Channels) {
		return float64(s.stats.AudioBytes) / (float64(s.stats.Samples) / float64(f.Rate*f.Channels))
	}
	return float64(s.stats.Bitrate) * 1000 / 8
}

// Title returns the current ICY StreamTitle, "" before the first one.
func (s *Stream) Title() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.title
}

// Stats returns a snapshot of the Stream's counters.
func (s *Stream) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Close ends the Stream: it interrupts a Read blocked on the network (from
// another goroutine), closes the connection and frees the decoder. It is
// safe to call more than once.
func (s *Stream) Close() error {
	s.cancel(ErrClosed)
	s.readMu.Lock()
	defer s.readMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.conn != nil {
		s.conn.close()
		s.conn = nil
	}
	if s.dec != nil {
		s.dec.Close()
	}
	if s.owned {
		s.o.Client.CloseIdleConnections()
	}
	return nil
}

// id3Size returns the length of an ID3v2 tag at the start of b, header and
// footer included, or 0. libmpg123 skips the tag, so its bytes are not junk.
func id3Size(b []byte) int64 {
	if len(b) < 10 || string(b[:3]) != "ID3" {
		return 0
	}
	var n int64
	for _, c := range b[6:10] {
		if c >= 0x80 {
			return 0
		}
		n = n<<7 | int64(c)
	}
	n += 10
	if b[5]&0x10 != 0 {
		n += 10
	}
	return n
}
