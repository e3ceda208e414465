package media

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loaxa/loaxa/internal/clock"
	"github.com/loaxa/loaxa/internal/redact"
)

// Defaults of FetcherOptions.
const (
	DefaultMaxFileSize      = 256 << 20
	DefaultMaxConcurrent    = 2
	DefaultMaxHeaderBytes   = 64 << 10
	DefaultMinRate          = 1 << 10 // bytes per second
	DefaultRateWindow       = 60 * time.Second
	DefaultMaxRedirects     = 5
	DefaultMaxRetries       = 20
	DefaultBackoffBase      = 2 * time.Second
	DefaultBackoffMax       = 5 * time.Minute
	DefaultCheckpointBytes  = 1 << 20
	DefaultMinFreeBytes     = 64 << 20
	DefaultMaxQueue         = 256
	DefaultRetryFailedAfter = time.Hour
	DefaultPartialMaxAge    = 7 * 24 * time.Hour
	// PartialDir is the directory of downloads in progress, inside the
	// cache directory: the same file system, so that a verified file moves
	// into place by an atomic rename, and a hidden name, so that it is
	// never media.
	PartialDir = ".partial"
	// indexName is the cache's index: hashes and last use of its files.
	indexName = ".index.json"
)

// The reasons of a media.failed event (Event.Reason).
const (
	ReasonHashMismatch = "hash_mismatch" // the file's SHA-256 is not the one asked for
	ReasonHTTPStatus   = "http_status"   // the server answered with an error status (Event.Status)
	ReasonDiskFull     = "disk_full"     // ENOSPC, or the download would leave less than MinFreeBytes free
	ReasonTooLarge     = "too_large"     // larger than MaxFileSize or the cache quota
	ReasonBadRedirect  = "bad_redirect"  // a redirect to another scheme than http(s), or too many
	ReasonTooSlow      = "too_slow"      // below MinRate for a RateWindow, again and again
	ReasonNetwork      = "network"       // connections kept failing (MaxRetries in a row without progress)
	ReasonIO           = "io"            // a local file error other than a full disk
	ReasonSuperseded   = "superseded"    // a newer fetch of the same name with another hash replaced it
)

// The kinds of Event.
const (
	EventFetched = "media.fetched"
	EventFailed  = "media.failed"
	EventEvicted = "media.evicted"
)

// Errors of Fetch.
var (
	// ErrClosed: the Fetcher was closed.
	ErrClosed = errors.New("media fetcher is closed")
	// ErrBusy: MaxQueue downloads are already waiting.
	ErrBusy = errors.New("too many media downloads waiting")
	// ErrRequest: the url, sha256 or name of a fetch is not valid.
	ErrRequest = errors.New("invalid media fetch")
)

// FetcherOptions configure a Fetcher. Dir is required; the zero value of
// every other field means its default.
type FetcherOptions struct {
	// Dir is the cache directory, DATA_DIR/media.
	Dir string
	// Clock runs the rate watchdog and the retry backoff; nil is the wall clock.
	Clock clock.Clock
	// Logger; nil discards.
	Logger *slog.Logger
	// OnEvent receives media.fetched, media.failed and media.evicted. It
	// is called on the Fetcher's owner goroutine, so it must not block and
	// must not call the Fetcher (hand the event on, as agent.Report does).
	OnEvent func(Event)
	// TLS sets the roots https servers are checked against; nil: the system's.
	TLS *tls.Config
	// Transport replaces the HTTP transport (tests); nil builds one with
	// the bounds below.
	Transport http.RoundTripper

	// QuotaBytes bounds the cache's files (media.quota_mb); 0: no quota.
	QuotaBytes int64
	// MaxFileSize bounds one file.
	MaxFileSize int64
	// MaxConcurrent bounds the downloads running at once.
	MaxConcurrent int
	// MaxHeaderBytes bounds a response's headers.
	MaxHeaderBytes int64
	// MinRate, in bytes per second, and RateWindow: a connection that
	// brings less than MinRate×RateWindow bytes in a RateWindow (the wait
	// for the headers included) is cut and retried.
	MinRate    int64
	RateWindow time.Duration
	// MaxRedirects bounds the redirects of one request.
	MaxRedirects int
	// MaxRetries is how many failed attempts in a row, none of which
	// brought CheckpointBytes, end a download with ReasonNetwork (or
	// ReasonTooSlow). The partial file is kept for a later fetch.
	MaxRetries int
	// BackoffBase and BackoffMax shape the full-jitter wait between attempts.
	BackoffBase, BackoffMax time.Duration
	// Rand draws the jitter; nil is math/rand/v2.
	Rand func(int64) int64
	// CheckpointBytes: every so many bytes the partial file is synced and
	// its progress record rewritten; a restart resumes from the last one.
	CheckpointBytes int64
	// MinFreeBytes is the free space a download must leave on the file
	// system (the journal and the OS need it). Negative: no check.
	MinFreeBytes int64
	// MaxQueue bounds the downloads waiting for a slot.
	MaxQueue int
	// RetryFailedAfter: Prefetch does not retry a file that failed for
	// that long (Fetch always does).
	RetryFailedAfter time.Duration
	// PartialMaxAge: a partial download nobody asked for since is removed
	// at start.
	PartialMaxAge time.Duration
}

func (o FetcherOptions) withDefaults() FetcherOptions {
	def := func(v *int64, d int64) {
		if *v <= 0 {
			*v = d
		}
	}
	defInt := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	def(&o.MaxFileSize, DefaultMaxFileSize)
	defInt(&o.MaxConcurrent, DefaultMaxConcurrent)
	def(&o.MaxHeaderBytes, DefaultMaxHeaderBytes)
	def(&o.MinRate, DefaultMinRate)
	defDur(&o.RateWindow, DefaultRateWindow)
	defInt(&o.MaxRedirects, DefaultMaxRedirects)
	defInt(&o.MaxRetries, DefaultMaxRetries)
	defDur(&o.BackoffBase, DefaultBackoffBase)
	defDur(&o.BackoffMax, DefaultBackoffMax)
	def(&o.CheckpointBytes, DefaultCheckpointBytes)
	if o.MinFreeBytes == 0 {
		o.MinFreeBytes = DefaultMinFreeBytes
	}
	defInt(&o.MaxQueue, DefaultMaxQueue)
	defDur(&o.RetryFailedAfter, DefaultRetryFailedAfter)
	defDur(&o.PartialMaxAge, DefaultPartialMaxAge)
	return o
}

// Request names a file to fetch.
type Request struct {
	URL    string
	SHA256 string // 64 hex digits, lower case after CheckRequest
	Name   string // the media name it is stored under
}

// CheckRequest validates a fetch before anything is downloaded: a valid
// media name, an http(s) URL with a host (at most 2048 characters), and a
// SHA-256 of 64 hex digits. It returns the request with the hash in lower
// case; errors wrap ErrRequest (or ErrName) and say what was expected.
func CheckRequest(rawURL, sha256, name string) (Request, error) {
	if err := ValidName(name); err != nil {
		return Request{}, fmt.Errorf("%w: name: %w", ErrRequest, err)
	}
	if len(sha256) != 64 {
		return Request{}, fmt.Errorf("%w: sha256 must be 64 hex digits, got %d characters", ErrRequest, len(sha256))
	}
	if _, err := hex.DecodeString(sha256); err != nil {
		return Request{}, fmt.Errorf("%w: sha256 must be 64 hex digits", ErrRequest)
	}
	if len(rawURL) > 2048 {
		return Request{}, fmt.Errorf("%w: url is %d characters, at most 2048", ErrRequest, len(rawURL))
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Request{}, fmt.Errorf("%w: url %q must be an http:// or https:// URL with a host", ErrRequest, redact.URL(rawURL))
	}
	return Request{URL: rawURL, SHA256: strings.ToLower(sha256), Name: name}, nil
}

// FetchStatus is Fetch's immediate answer.
type FetchStatus string

// The statuses of Fetch.
const (
	// StatusFetching: downloading, or waiting for a slot; an event follows.
	StatusFetching FetchStatus = "fetching"
	// StatusCached: the file is in the cache with that hash already; a
	// media.fetched event with cached:true follows too.
	StatusCached FetchStatus = "cached"
)

// Event reports the end of a fetch, or a file evicted for the quota.
type Event struct {
	Kind   string // EventFetched, EventFailed, EventEvicted
	Name   string
	URL    string // redacted: no credentials, query values hidden
	SHA256 string
	// Origin is who asked: "command" (media.fetch), "prefetch" (the
	// schedule) or "resume" (a download found unfinished at start).
	Origin string
	// Size is the file's size (fetched, evicted).
	Size int64
	// Bytes is how many bytes this fetch received over the network.
	Bytes int64
	// Resumed: part of the file came from an earlier attempt or run.
	Resumed bool
	// Cached: the file was already there; nothing was downloaded.
	Cached bool
	// Attempts is the number of HTTP attempts.
	Attempts int
	// Reason (failed, evicted) is one of the Reason constants, or "quota"
	// for an eviction.
	Reason string
	// Status is the HTTP status of ReasonHTTPStatus.
	Status int
	// GotSHA256 is the hash of the bytes received, for ReasonHashMismatch.
	GotSHA256 string
	// Err says what happened, for people.
	Err string
}

// Data is the event's "data" object as the agent publishes it.
func (e Event) Data() map[string]any {
	d := map[string]any{"name": e.Name}
	if e.Kind == EventEvicted {
		d["size"] = e.Size
		d["reason"] = e.Reason
		return d
	}
	d["url"] = e.URL
	d["sha256"] = e.SHA256
	d["origin"] = e.Origin
	d["bytes"] = e.Bytes
	d["attempts"] = e.Attempts
	if e.Kind == EventFetched {
		d["size"] = e.Size
		d["resumed"] = e.Resumed
		d["cached"] = e.Cached
		return d
	}
	d["reason"] = e.Reason
	d["error"] = e.Err
	if e.Status != 0 {
		d["status"] = e.Status
	}
	if e.GotSHA256 != "" {
		d["got_sha256"] = e.GotSHA256
	}
	return d
}

// Usage is the cache's use, for the state and status documents.
type Usage struct {
	UsedBytes    int64 `json:"used_bytes"`    // the cache's files (links excluded)
	QuotaBytes   int64 `json:"quota_bytes"`   // 0: no quota
	Files        int   `json:"files"`         // media files, links included
	PartialBytes int64 `json:"partial_bytes"` // downloads in progress
	Fetching     int   `json:"fetching"`      // downloads running
	Queued       int   `json:"queued"`        // downloads waiting for a slot
	// Missing are pinned files (the schedule needs them) not in the
	// cache, at most ten, sorted; MissingCount counts them all.
	Missing      []string `json:"missing,omitempty"`
	MissingCount int      `json:"missing_count"`
}

// Fetcher downloads media files into the cache in the background and keeps
// the cache within its quota. Its methods may be called from any
// goroutine; one owner goroutine holds its state, and each running
// download has a worker goroutine that the owner starts and waits for.
type Fetcher struct {
	opts    FetcherOptions
	dir     string
	partDir string
	client  *http.Client
	log     *slog.Logger

	msgs    chan any
	results chan result
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{} // closed when the owner goroutine has returned
	workers sync.WaitGroup
	once    sync.Once

	quota atomic.Int64
	usage atomic.Pointer[Usage]

	// Test hooks, set before the first Fetch: freeSpace reports the free
	// bytes of the cache's file system; beforeWrite may fail a write.
	freeSpace   func(dir string) (int64, error)
	beforeWrite func(off int64, n int) error
}

// NewFetcher prepares the cache directory (creating it and its partial
// directory), reads the index, removes leftovers of a crash, and starts
// the owner goroutine, which resumes the downloads that were running when
// the agent stopped. Close stops it.
func NewFetcher(opts FetcherOptions) (*Fetcher, error) {
	if opts.Dir == "" {
		return nil, errors.New("media fetcher: no cache directory")
	}
	opts = opts.withDefaults()
	f := &Fetcher{
		opts:      opts,
		dir:       opts.Dir,
		partDir:   filepath.Join(opts.Dir, PartialDir),
		log:       opts.Logger,
		msgs:      make(chan any, 64),
		results:   make(chan result),
		done:      make(chan struct{}),
		freeSpace: freeSpace,
	}
	f.quota.Store(opts.QuotaBytes)
	if err := os.MkdirAll(f.partDir, 0o755); err != nil {
		return nil, fmt.Errorf("media fetcher: %w", err)
	}
	f.client = f.newClient()
	o, err := f.newOwner()
	if err != nil {
		return nil, err
	}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	go f.run(o)
	return f, nil
}

func (f *Fetcher) newClient() *http.Client {
	rt := f.opts.Transport
	if rt == nil {
		d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
		rt = &http.Transport{
			Proxy:                  http.ProxyFromEnvironment,
			DialContext:            d.DialContext,
			TLSClientConfig:        f.opts.TLS,
			TLSHandshakeTimeout:    30 * time.Second,
			MaxResponseHeaderBytes: f.opts.MaxHeaderBytes,
			// Compression would hide the byte offsets a Range resume needs.
			DisableCompression: true,
			MaxIdleConns:       2,
			IdleConnTimeout:    30 * time.Second,
		}
	}
	return &http.Client{Transport: rt, CheckRedirect: f.checkRedirect}
}

var errBadRedirect = errors.New("bad redirect")

func (f *Fetcher) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > f.opts.MaxRedirects {
		return fmt.Errorf("%w: more than %d redirects", errBadRedirect, f.opts.MaxRedirects)
	}
	if s := req.URL.Scheme; s != "http" && s != "https" {
		return fmt.Errorf("%w: to a %s: URL (%s); only http and https are followed", errBadRedirect, s, redact.Parsed(req.URL))
	}
	return nil
}

// Fetch asks for url to be stored as name once its content hashes to
// sha256. It returns at once: StatusCached when the file is there already,
// StatusFetching otherwise; the outcome comes as an event. A fetch of a
// name already being fetched with the same hash joins it; with another
// hash it replaces it (the older ends with ReasonSuperseded). Invalid
// arguments are an error wrapping ErrRequest; nothing is queued.
func (f *Fetcher) Fetch(rawURL, sha256, name string) (FetchStatus, error) {
	req, err := CheckRequest(rawURL, sha256, name)
	if err != nil {
		return "", err
	}
	reply := make(chan fetchReply, 1)
	if !f.send(fetchMsg{req: req, reply: reply}) {
		return "", ErrClosed
	}
	select {
	case r := <-reply:
		return r.status, r.err
	case <-f.done:
		return "", ErrClosed
	}
}

// Prefetch gives the files the schedule will need soon (the schedule's
// MediaNeeds within media.lead_h), most urgent first. Those not in the
// cache with their hash, not being fetched, and not failed within
// RetryFailedAfter are queued behind commanded fetches. Invalid needs are
// logged and skipped. Each call replaces nothing: running downloads go on.
func (f *Fetcher) Prefetch(needs []Request) {
	f.send(prefetchMsg{needs: needs})
}

// SetPinned gives the names the cache must never evict (the schedule's
// Pinned names, plus the configured fallback file).
func (f *Fetcher) SetPinned(names []string) { f.send(pinMsg{names: names}) }

// SetQuota changes the quota (media.quota_mb in bytes; 0: none) and
// evicts what is over it.
func (f *Fetcher) SetQuota(bytes int64) { f.send(quotaMsg{bytes: bytes}) }

// Touch records that name was just used (opened for playing), for the
// least-recently-used order.
func (f *Fetcher) Touch(name string) {
	// The time of the play, not of the owner's turn to record it.
	f.send(touchMsg{name: name, at: f.opts.Clock.Now()})
}

// Air is ResolveAir with the cache's knowledge of hashes: when sha256 is
// given (a scheduled item's) and the cache holds a file of that name whose
// recorded hash differs (an older version, its replacement not fetched
// yet), the file counts as missing. A file whose hash is not recorded (put
// there by hand) plays. After Close it is ResolveAir.
func (f *Fetcher) Air(name, sha256, streamURL, fallback string) Air {
	reply := make(chan Air, 1)
	if f.send(airMsg{name: name, sha: strings.ToLower(sha256), streamURL: streamURL, fallback: fallback, reply: reply}) {
		select {
		case a := <-reply:
			return a
		case <-f.done:
		}
	}
	return ResolveAir(f.dir, name, streamURL, fallback)
}

// Usage returns the cache's use as last computed by the owner goroutine;
// it never blocks.
func (f *Fetcher) Usage() Usage {
	if u := f.usage.Load(); u != nil {
		return *u
	}
	return Usage{QuotaBytes: f.quota.Load()}
}

// Close stops the downloads (each syncs its partial file and progress
// record first, so the next start resumes it) and the owner goroutine,
// and waits for them. It is safe to call more than once.
func (f *Fetcher) Close() error {
	f.once.Do(func() {
		f.cancel()
		<-f.done
		f.client.CloseIdleConnections()
	})
	return nil
}

// send hands a message to the owner; false when the Fetcher is closed.
func (f *Fetcher) send(m any) bool {
	select {
	case <-f.done:
		return false
	default:
	}
	select {
	case f.msgs <- m:
		return true
	case <-f.done:
		return false
	}
}

func (f *Fetcher) emit(ev Event) {
	if f.opts.OnEvent != nil {
		f.opts.OnEvent(ev)
	}
}

// The owner goroutine's messages.
type (
	fetchMsg struct {
		req   Request
		reply chan fetchReply
	}
	fetchReply struct {
		status FetchStatus
		err    error
	}
	prefetchMsg struct{ needs []Request }
	pinMsg      struct{ names []string }
	quotaMsg    struct{ bytes int64 }
	touchMsg    struct {
		name string
		at   time.Time
	}
	airMsg struct {
		name, sha, streamURL, fallback string
		reply                          chan Air
	}
)
