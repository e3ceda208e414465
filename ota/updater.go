package ota

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loaxa/loaxa/internal/clock"
)

// Supervisor is the agent's line to the supervisor that started it
// (supervisor.Conn implements it).
type Supervisor interface {
	// ReportHealthy tells the supervisor that the agent is healthy. On
	// trial this commits the running version; the reply then carries the
	// supervisor's "committed" event.
	ReportHealthy(ctx context.Context) (HealthReply, error)
}

// HealthReply is the supervisor's answer to a health report.
type HealthReply struct {
	// Committed is true when the report committed the running version;
	// Event is then the supervisor's log entry for it.
	Committed bool
	Event     *BootEvent
}

// Options configure an Updater. Zero values mean the defaults given.
type Options struct {
	// Layout is where the files live (NewLayout(data_dir)). Required.
	Layout Layout
	// Store keeps the document; nil: FileStore{Layout.UpdateDoc()}.
	Store Store
	// Keys are the trusted keys of the configuration (ota.keys).
	Keys []PublicKey
	// Version is the running version (main.version).
	Version string
	// Arch is this pole's architecture; "": Arch().
	Arch string
	// Boot is what the supervisor said at start (supervisor.Attach);
	// the zero value means "not supervised": updates are refused.
	Boot BootInfo
	// Supervisor receives health reports; nil when not supervised.
	Supervisor Supervisor
	// Clock and Log; nil: clock.Real and slog.Default.
	Clock clock.Clock
	Log   *slog.Logger
	// HTTP downloads; nil: a client with connect and header timeouts.
	HTTP *http.Client
	// MaxSize bounds a release (0: DefaultMaxSizeMB MiB).
	MaxSize int64
	// MaxSkew bounds how far in the future "issued" may be (0: DefaultMaxSkew).
	MaxSkew time.Duration
	// Stall cuts a download that receives nothing for this long (0: 60 s).
	Stall time.Duration
	// Checkpoint is how many bytes are downloaded between two persisted
	// offsets (0: 1 MiB): what a power cut may cost to download again.
	Checkpoint int64
	// RetryBase and RetryMax bound the full-jitter backoff between
	// download attempts (0: 2 s and 5 min); MaxRounds is how many rounds
	// over every URL without a byte end the download (0: 30).
	RetryBase, RetryMax time.Duration
	MaxRounds           int
	// Report publishes an event (ota.progress, ota.installed, ...). It is
	// called from the updater's goroutine and must not block (the agent's
	// Report drops when busy). Events may repeat after a power cut.
	Report func(typ string, data map[string]any)
	// Switch asks the agent to stop and exit with supervisor.ExitSwitch so
	// the supervisor starts the new slot. It must not block.
	Switch func()
	// OnChange is called, without blocking, when Status changes in a way
	// worth republishing the state (a transition, each 10 % of a download).
	OnChange func()
	// Hook is for crash tests: it is called with "state:NAME" right after
	// each state is persisted and with ("download", offset) as bytes
	// arrive. nil in production.
	Hook func(point string, n int64)
	// FreeSpace reports the bytes free for dir; nil: statfs.
	FreeSpace func(dir string) (uint64, error)
}

// Accepted is the result of an ota command the updater took.
type Accepted struct {
	Version string    `json:"version"`
	State   StateName `json:"state"`
	// Resumed is true when this manifest was already accepted: the update
	// goes on (or starts again after a failure that can pass).
	Resumed bool `json:"resumed,omitempty"`
}

// Updater downloads, verifies and installs releases into the inactive
// slot, then asks for the switch at a gap in the programme. One goroutine
// (Run) owns its state; the other methods send it messages and are safe
// for concurrent use.
type Updater struct {
	o      Options
	log    *slog.Logger
	clock  clock.Clock
	store  Store
	layout Layout

	submitCh chan submitReq
	busyCh   chan struct{}
	healthCh chan struct{}
	results  chan result
	progress chan progressNote
	done     chan struct{}
	started  atomic.Bool

	busy   atomic.Pointer[string]
	status atomic.Pointer[Status]
	live   atomic.Int64 // bytes of the download so far, for Status
	// durable is the download's last fsynced offset, for the last save
	// when Run stops mid-download.
	durable atomic.Int64

	// Owned by Run's goroutine.
	doc       Doc
	rec       *Update // doc.Update
	boot      BootInfo
	other     SlotState
	keys      []PublicKey
	lastErr   *Failure
	queue     []any
	workers   sync.WaitGroup
	dl, inst  *worker
	health    *worker
	gapTimer  clock.Timer
	pctShown  int
	loadError error
	runCtx    context.Context // workers end with it
}

type submitReq struct {
	raw   []byte
	reply chan submitReply
}

type submitReply struct {
	acc Accepted
	err error
}

// New returns an Updater; Run must run for it to do anything.
func New(o Options) *Updater {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Store == nil {
		o.Store = FileStore{Path: o.Layout.UpdateDoc()}
	}
	if o.Arch == "" {
		o.Arch = Arch()
	}
	if o.MaxSize == 0 {
		o.MaxSize = DefaultMaxSizeMB << 20
	}
	if o.Stall == 0 {
		o.Stall = DefaultStallS * time.Second
	}
	if o.Checkpoint == 0 {
		o.Checkpoint = 1 << 20
	}
	if o.RetryBase == 0 {
		o.RetryBase = 2 * time.Second
	}
	if o.RetryMax == 0 {
		o.RetryMax = 5 * time.Minute
	}
	if o.MaxRounds == 0 {
		o.MaxRounds = 30
	}
	if o.HTTP == nil {
		o.HTTP = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   30 * time.Second,
			ResponseHeaderTimeout: 60 * time.Second,
		}}
	}
	if o.FreeSpace == nil {
		o.FreeSpace = freeSpace
	}
	u := &Updater{
		o: o, log: o.Log.With("component", "ota"), clock: o.Clock, store: o.Store, layout: o.Layout,
		submitCh: make(chan submitReq),
		busyCh:   make(chan struct{}, 1),
		healthCh: make(chan struct{}, 1),
		results:  make(chan result, 4),
		progress: make(chan progressNote, 1),
		done:     make(chan struct{}),
		boot:     o.Boot,
		other:    o.Boot.Other,
	}
	empty := ""
	u.busy.Store(&empty)
	u.status.Store(&Status{Version: o.Version, Arch: o.Arch, State: StateIdle})
	return u
}

// Run owns the updater until ctx ends: it loads the document, resumes an
// update cut by a restart, reports what the supervisor did, and serves
// Submit, SetBusy and Healthy. It returns once every worker has stopped.
// A Run that could not load its document still runs (and reports it).
func (u *Updater) Run(ctx context.Context) error {
	if !u.started.CompareAndSwap(false, true) {
		return errors.New("ota: Run called twice")
	}
	defer close(u.done)
	defer u.shutdown()
	u.runCtx = ctx
	u.load()
	u.resume()
	for {
		u.drain()
		var gapC <-chan time.Time
		if u.gapTimer != nil {
			gapC = u.gapTimer.C()
		}
		select {
		case <-ctx.Done():
			return nil
		case r := <-u.submitCh:
			acc, err := u.submit(ctx, r.raw)
			r.reply <- submitReply{acc, err}
		case res := <-u.results:
			u.onResult(res)
		case p := <-u.progress:
			u.onProgress(p)
		case <-u.busyCh:
			if u.rec != nil && u.rec.State == StateInstalled && u.busyReason() == "" {
				u.queue = append(u.queue, inGap{})
			}
			u.publish()
		case <-u.healthCh:
			u.startHealth(ctx)
		case <-gapC:
			u.gapTimer = nil
			if u.rec != nil && u.rec.State == StateInstalled {
				u.queue = append(u.queue, inNoGap{})
			}
		}
	}
}

// Submit hands an ota command's args (the signed manifest) to the
// updater and returns once it is accepted (persisted) or refused. A
// refusal wraps one of the Err* values (Code and AckCode name it) and
// changes nothing on disk.
func (u *Updater) Submit(ctx context.Context, raw []byte) (Accepted, error) {
	r := submitReq{raw: raw, reply: make(chan submitReply, 1)}
	select {
	case u.submitCh <- r:
	case <-u.done:
		return Accepted{}, ErrClosed
	case <-ctx.Done():
		return Accepted{}, ctx.Err()
	}
	select {
	case rep := <-r.reply:
		return rep.acc, rep.err
	case <-ctx.Done():
		return Accepted{}, ctx.Err()
	}
}

// SetBusy tells the updater what plays that must not be cut (an
// emergency, a live relay, a scheduled item), or "" when nothing does:
// the switch happens only at "". It never blocks; call it on every
// change (the latest value wins).
func (u *Updater) SetBusy(what string) {
	u.busy.Store(&what)
	select {
	case u.busyCh <- struct{}{}:
	default:
	}
}

// Healthy tells the updater (and through it the supervisor) that the
// agent is healthy: connected to the broker, audio device open, relays
// answering. On trial this commits the new version. It never blocks; call
// it once per start when the agent is first healthy.
func (u *Updater) Healthy() {
	select {
	case u.healthCh <- struct{}{}:
	default:
	}
}

// Status returns the OTA part of the state document. Safe for
// concurrent use.
func (u *Updater) Status() Status {
	s := *u.status.Load()
	if s.Progress != nil {
		p := *s.Progress
		if b := u.live.Load(); b > p.Bytes && s.State == StateDownloading {
			p.Bytes = b
		}
		s.Progress = &p
	}
	return s
}

func (u *Updater) busyReason() string { return *u.busy.Load() }
