package stream

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/loaxa/loaxa/internal/clock"
)

// Defaults for the zero fields of Options.
const (
	DefaultConnectTimeout = 10 * time.Second
	DefaultStallTimeout   = 15 * time.Second
	DefaultMaxRetries     = 10
	DefaultBackoffBase    = 500 * time.Millisecond
	DefaultBackoffMax     = 10 * time.Second
	// DefaultSyncLimit is about 8 s of 128 kbit/s audio: far more junk than
	// a healthy stream ever has between two frames, and little enough that
	// a server sending something else is found out quickly.
	DefaultSyncLimit = 128 << 10
	// DefaultMinByteRate is the floor of the byte-rate bound: 2 kbit/s, a
	// quarter of the lowest MP3 bit rate (8 kbit/s).
	DefaultMinByteRate = 250
	// DefaultMaxSlowCuts is how many connections in a row may be cut for
	// being too slow before the Stream fails.
	DefaultMaxSlowCuts = 2
	// DefaultMaxRedirects bounds the redirects of one request.
	DefaultMaxRedirects = 5
	// MaxHeaderBytes bounds the response headers NewClient accepts: an
	// Icecast server sends well under 1 KiB.
	MaxHeaderBytes = 32 << 10
)

// Options tune Open. The zero value is usable.
type Options struct {
	// Client makes the requests. Nil means NewClient(nil). An injected
	// client must not have a Timeout (it would cut streams); it gets no
	// "ICY 200 OK" rewriting and no bound on the header size unless it was
	// made by NewClient. Redirects are checked whatever the client (Open
	// uses a copy of it with its own CheckRedirect).
	Client *http.Client
	// Clock runs the timeouts and the backoff. Nil means the wall clock.
	Clock clock.Clock
	// Logger receives connection and reconnection messages. Nil discards them.
	Logger *slog.Logger
	// ConnectTimeout bounds a request up to its response headers.
	ConnectTimeout time.Duration
	// StallTimeout bounds one read of the body that receives nothing.
	StallTimeout time.Duration
	// MaxRetries is how many reconnection attempts in a row may fail before
	// the Stream gives up: 0 means DefaultMaxRetries, negative means no limit
	// (until the Stream's context ends).
	MaxRetries int
	// BackoffBase and BackoffMax shape the full-jitter delay before each
	// reconnection attempt: a ceiling starting at BackoffBase and doubling up
	// to BackoffMax.
	BackoffBase, BackoffMax time.Duration
	// Rand draws the jitter (see backoff.New); nil means math/rand/v2.
	Rand func(n int64) int64
	// SyncLimit is how many input bytes may pass without a decodable frame
	// before the Stream fails with ErrNoAudio. An ID3v2 tag at the start of
	// a file does not count.
	SyncLimit int64
	// UserAgent is sent with every request; empty means "loaxa".
	UserAgent string
	// SlowWindow, MinByteRate and MaxSlowCuts bound how slowly a server
	// may deliver. Over every SlowWindow spent waiting for the network
	// (time the caller spends elsewhere does not count), a connection
	// must bring at least a quarter of the stream's own byte rate (as
	// measured from the audio decoded so far, or icy-br) and at least
	// MinByteRate bytes per second. A connection below that is cut with
	// ErrTooSlow and replaced, like a stalled one; after MaxSlowCuts cuts
	// in a row the Stream fails. A source that trickles a byte every half
	// second would otherwise keep an item, and the amplifier, on for
	// hours. Zero values mean StallTimeout, DefaultMinByteRate and
	// DefaultMaxSlowCuts.
	SlowWindow  time.Duration
	MinByteRate int
	MaxSlowCuts int
	// MaxRedirects bounds the redirects followed by one request (0 means
	// DefaultMaxRedirects); only http and https targets are followed.
	MaxRedirects int
	// OnEvent, if set, is called on the goroutine that calls Open or Read,
	// so it must return quickly (hand the event on) and must not call Read
	// or Close; Title and Stats are fine.
	OnEvent func(Event)
}

func (o Options) withDefaults() Options {
	if o.Client == nil {
		o.Client = NewClient(nil)
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.StallTimeout <= 0 {
		o.StallTimeout = DefaultStallTimeout
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = DefaultMaxRetries
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = DefaultBackoffBase
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = DefaultBackoffMax
	}
	if o.SyncLimit <= 0 {
		o.SyncLimit = DefaultSyncLimit
	}
	if o.UserAgent == "" {
		o.UserAgent = "loaxa"
	}
	if o.SlowWindow <= 0 {
		o.SlowWindow = o.StallTimeout
	}
	if o.MinByteRate <= 0 {
		o.MinByteRate = DefaultMinByteRate
	}
	if o.MaxSlowCuts <= 0 {
		o.MaxSlowCuts = DefaultMaxSlowCuts
	}
	if o.MaxRedirects <= 0 {
		o.MaxRedirects = DefaultMaxRedirects
	}
	o.Client = checkRedirects(o.Client, o.MaxRedirects)
	return o
}

// EventKind names what happened to a Stream.
type EventKind string

// The kinds of Event.
const (
	// EventConnected: a connection is established and its response
	// accepted (at Open, and after every successful reconnection).
	EventConnected EventKind = "connected"
	// EventReconnecting: the connection was lost (Err says why) and attempt
	// Attempt will start after Delay.
	EventReconnecting EventKind = "reconnecting"
	// EventTitle: the ICY StreamTitle changed to Title.
	EventTitle EventKind = "title"
	// EventFailed: the Stream gave up (Err says why); Read returns that
	// error from now on. Open reports its own failure the same way before
	// returning it. The end of the Stream's context or Close is not a
	// failure.
	EventFailed EventKind = "failed"
)

// Event reports a change in a Stream's connection, for the agent to publish.
type Event struct {
	Kind    EventKind
	URL     string        // redacted
	Err     error         // EventReconnecting, EventFailed
	Attempt int           // EventReconnecting: 1 for the first retry in a row
	Delay   time.Duration // EventReconnecting: wait before the attempt
	Title   string        // EventTitle
	Live    bool          // false for a file
}

// Stats are counters of a Stream, for telemetry.
type Stats struct {
	URL         string // redacted
	Live        bool   // live stream (reconnects) rather than file (resumes)
	ContentType string // of the last response
	Name        string // icy-name, if the server sent one
	Bitrate     int    // icy-br in kbit/s, 0 if not sent
	MetaInt     int    // icy-metaint, 0 without ICY metadata
	Size        int64  // file size in bytes; -1 for a live stream
	Offset      int64  // file bytes received, where a resume would start
	Connects    int    // successful connections, the first one included
	Failures    int    // failed connection attempts and lost connections
	AudioBytes  int64  // compressed bytes fed to the decoder
	MetaBytes   int64  // ICY metadata bytes removed (length bytes included)
	Samples     int64  // samples (frames × channels) returned by Read
	Dropped     int64  // decoded samples discarded for being in a wrong format
}
