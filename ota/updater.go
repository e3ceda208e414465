package ota

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loaxa/loaxa/internal/backoff"
	"github.com/loaxa/loaxa/internal/clock"
	"github.com/loaxa/loaxa/internal/redact"
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

// reserveBytes is left free on the data partition besides the download:
// the agent's state, logs and the journal must still be writable.
const reserveBytes = 8 << 20

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

type result struct {
	id string // the update the worker worked for ("" for health)
	in any
}

type progressNote struct {
	id     string
	offset int64
	url    int
	err    error
	from   string
}

type worker struct {
	cancel context.CancelFunc
	done   chan struct{}
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

// load reads the document and seeds the replay protection.
func (u *Updater) load() {
	d, err := u.store.Load()
	if err != nil {
		u.loadError = err
		u.log.Error("the update document is unreadable; starting from what the slots hold", "err", err)
		u.fail0(fmt.Errorf("%w: %v", ErrStateCorrupted, err))
	}
	// Whatever happened to the document, never accept less than what
	// runs or what a slot holds.
	for _, v := range []string{u.o.Version, u.boot.Version, u.other.Version} {
		if hv := versionOrZero(v); v != "" && (d.Highest == "" || hv.Compare(versionOrZero(d.Highest)) > 0) {
			if _, perr := ParseVersion(v); perr == nil {
				d.Highest = hv.String()
			}
		}
	}
	u.doc = d
	u.rec = d.Update
	u.keys = TrustedKeys(u.o.Keys, d)
	u.publish()
}

// resume reports what the supervisor did since the last run and puts an
// update cut by a restart back on its way.
func (u *Updater) resume() {
	if u.boot.Supervised {
		seen := u.doc.SeenSeq
		for _, ev := range u.boot.Log {
			if ev.Seq <= seen {
				continue
			}
			u.doc.SeenSeq = ev.Seq
			u.apply(inBoot{ev})
		}
		if u.doc.SeenSeq != seen {
			u.save()
		}
	}
	if u.rec != nil && !u.rec.State.Terminal() {
		u.apply(inResume{boot: u.boot})
	}
	u.changed() // the state document can now say where the update stands
}

// apply runs one input through the machine, persists a transition before
// anything acts on it, then carries out the effects.
func (u *Updater) apply(in any) {
	cur := Update{State: StateIdle}
	if u.rec != nil {
		cur = *u.rec
	}
	next, effs := step(cur, in)
	if u.rec == nil && next.State == StateIdle {
		u.run(effs) // events about no update of ours
		return
	}
	if next.State != cur.State {
		now := u.clock.Now()
		next.Since = now.UnixMilli()
		next.Transitions++
		if next.Transitions > MaxTransitions && !next.State.Terminal() {
			next, effs = fail(next, fmt.Errorf("%w (%d)", ErrLoop, next.Transitions))
		}
		doc := u.doc
		doc.Update = &next
		if err := u.store.Save(doc); err != nil {
			// Not persisted, so not acted on: a restart resumes from the
			// last state on disk.
			u.log.Error("cannot persist the update state; not going on", "state", next.State, "err", err)
			u.lastErr = &Failure{Code: "internal", Message: "persist " + string(next.State) + ": " + err.Error(), At: now.UnixMilli()}
			u.report("ota.failed", map[string]any{"version": next.Version, "code": "internal", "error": u.lastErr.Message, "state": string(cur.State)})
			u.publish()
			return
		}
		u.doc = doc
		u.rec = doc.Update
		u.log.Info("update state", "version", next.Version, "state", next.State, "from", cur.State)
		if next.State == StateFailed || next.State == StateRolledBack {
			u.lastErr = &Failure{Code: next.Code, Message: next.Error, At: next.Since}
			if next.Detail != "" {
				u.lastErr.Message += ": " + next.Detail
			}
		}
		u.hook("state:"+string(next.State), 0)
		u.publish()
		u.changed()
	} else {
		*u.rec = next
	}
	u.run(effs)
}

// run carries out effects.
func (u *Updater) run(effs []effect) {
	for _, e := range effs {
		switch e := e.(type) {
		case effEvent:
			u.report(e.typ, e.data)
		case effDownload:
			u.startDownload()
		case effInstall:
			u.startInstall()
		case effWaitGap:
			u.waitGap(e.deadline)
		case effSwitch:
			if u.o.Switch != nil {
				u.o.Switch()
			} else {
				u.log.Error("the update is installed but nothing can switch: Options.Switch is nil")
			}
		case effCleanup:
			if err := os.Remove(u.layout.Part()); err != nil && !errors.Is(err, os.ErrNotExist) {
				u.log.Warn("cannot remove the partial download", "err", err)
			}
			u.live.Store(0)
		}
	}
}

// drain processes inputs queued by effects.
func (u *Updater) drain() {
	for len(u.queue) > 0 {
		in := u.queue[0]
		u.queue = u.queue[1:]
		u.apply(in)
	}
}

func (u *Updater) waitGap(deadline time.Time) {
	if u.gapTimer != nil {
		u.gapTimer.Stop()
		u.gapTimer = nil
	}
	now := u.clock.Now()
	switch {
	case u.busyReason() == "":
		u.queue = append(u.queue, inGap{})
	case !deadline.IsZero() && !now.Before(deadline):
		u.queue = append(u.queue, inNoGap{})
	case !deadline.IsZero():
		u.gapTimer = u.clock.NewTimer(deadline.Sub(now))
	}
	u.log.Info("waiting for a gap in the programme to switch", "playing", u.busyReason(), "switch_by", deadline)
}

// submit verifies a manifest and, if it is accepted, persists it before
// answering.
func (u *Updater) submit(ctx context.Context, raw []byte) (Accepted, error) {
	if !u.boot.Supervised || !ValidSlot(u.boot.Slot) {
		return Accepted{}, fmt.Errorf("%w: start the agent with `loaxad supervise` (the systemd unit does) to update it over the air", ErrUnsupervised)
	}
	if u.boot.Trial {
		return Accepted{}, fmt.Errorf("%w: %s runs on trial; try again once it is committed", ErrBusy, u.boot.Version)
	}
	if u.rec != nil && (u.rec.State == StateSwitching || u.rec.State == StateTrial) {
		return Accepted{}, fmt.Errorf("%w: %s is %s", ErrBusy, u.rec.Version, u.rec.State)
	}
	s, err := Verify(raw, Policy{
		Keys: u.keys, Arch: u.o.Arch, Running: u.o.Version, Highest: u.doc.Highest,
		Now: u.clock.Now(), MaxSkew: u.o.MaxSkew, MaxSize: u.o.MaxSize,
	})
	retry := false
	if errors.Is(err, ErrReplay) && u.rec != nil && u.rec.ID == s.Manifest.ID() {
		if !u.rec.State.Terminal() {
			return Accepted{Version: u.rec.Version, State: u.rec.State, Resumed: true}, nil
		}
		if retryable(u.rec) {
			retry, err = true, nil
		}
	}
	if err != nil {
		return Accepted{}, err
	}
	m := &s.Manifest
	if err := u.checkSpace(m.Size); err != nil {
		return Accepted{}, err
	}
	// The new release replaces whatever update was under way (an older
	// one: Verify saw to that), and its wait for a gap.
	u.stopUpdateWorkers()
	if u.gapTimer != nil {
		u.gapTimer.Stop()
		u.gapTimer = nil
	}
	if u.rec != nil && !retry && u.rec.ID != m.ID() {
		if err := os.Remove(u.layout.Part()); err != nil && !errors.Is(err, os.ErrNotExist) {
			return Accepted{}, fmt.Errorf("remove the previous partial download: %w", err)
		}
		u.live.Store(0)
	}
	now := u.clock.Now().UnixMilli()
	rec := &Update{
		State: StateVerified, ID: m.ID(), Version: m.Version.String(), Slot: OtherSlot(u.boot.Slot),
		Signed: append([]byte(nil), raw...), Size: m.Size, Accepted: now, Since: now,
	}
	if retry {
		rec.Offset, rec.URL = u.rec.Offset, u.rec.URL
	}
	doc := u.doc
	doc.Update = rec
	if v := m.Version.String(); doc.Highest == "" || m.Version.Compare(versionOrZero(doc.Highest)) > 0 {
		doc.Highest = v
	}
	if len(m.Keys) > 0 {
		ks := make([]string, 0, len(m.Keys))
		for _, k := range m.Keys {
			ks = append(ks, k.String())
		}
		doc.Trust = &Trust{ConfigKeys: KeysFingerprint(u.o.Keys), Keys: ks, Version: rec.Version}
	}
	if err := u.store.Save(doc); err != nil {
		return Accepted{}, fmt.Errorf("persist the accepted manifest: %w", err)
	}
	u.doc, u.rec = doc, doc.Update
	if len(m.Keys) > 0 {
		u.keys = TrustedKeys(u.o.Keys, doc)
		u.log.Info("signing keys rotated by a signed release", "version", rec.Version, "keys", len(m.Keys))
	}
	u.lastErr = nil
	u.pctShown = -1
	u.log.Info("release accepted", "version", rec.Version, "size", m.Size, "slot", rec.Slot, "retry", retry)
	u.hook("state:"+string(StateVerified), 0)
	u.publish()
	u.changed()
	u.queue = append(u.queue, inAccepted{})
	return Accepted{Version: rec.Version, State: StateVerified, Resumed: retry}, nil
}

// checkSpace refuses a release the data partition cannot hold, before
// anything is written.
func (u *Updater) checkSpace(size int64) error {
	if err := os.MkdirAll(u.layout.Dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", u.layout.Dir, diskErr(err))
	}
	free, err := u.o.FreeSpace(u.layout.Dir)
	if err != nil {
		return nil // unknown: the write itself will tell
	}
	var have int64
	if fi, err := os.Stat(u.layout.Part()); err == nil {
		have = fi.Size()
	}
	need := size - have + reserveBytes
	if int64(free) < need {
		return fmt.Errorf("%w: the release needs %d MiB on the data partition, %d MiB are free; nothing was changed",
			ErrDiskFull, (need+(1<<20)-1)>>20, free>>20)
	}
	return nil
}

func (u *Updater) startDownload() {
	if u.dl != nil || u.rec == nil {
		return
	}
	s, err := ParseSigned(u.rec.Signed)
	if err != nil {
		u.queue = append(u.queue, inFailed{err})
		return
	}
	m := s.Manifest
	id, slot := u.rec.ID, u.rec.Slot
	u.live.Store(u.rec.Offset)
	d := &download{
		part: u.layout.Part(), urls: m.URLs, size: m.Size, sha: m.SHA256,
		start: u.rec.Offset, startURL: u.rec.URL, client: u.o.HTTP, clock: u.clock,
		stall: u.o.Stall, checkpoint: u.o.Checkpoint, maxRounds: u.o.MaxRounds,
		backoff: backoff.New(u.o.RetryBase, u.o.RetryMax, u.clock, nil), log: u.log,
		hook:    u.o.Hook,
		live:    func(off int64) { u.live.Store(off) },
		durable: func(off int64) { u.durable.Store(off) },
	}
	u.durable.Store(u.rec.Offset)
	u.dl = u.spawn(func(ctx context.Context) any {
		// Sent again with the same manifest after the slot was written:
		// nothing to download.
		if FileMatches(u.layout.Binary(slot), m.Size, m.SHA256) == nil {
			return inDownloaded{}
		}
		d.progress = func(off int64, url int) { u.note(ctx, progressNote{id: id, offset: off, url: url}) }
		d.attempt = func(url string, err error) {
			u.note(ctx, progressNote{id: id, offset: -1, url: -1, err: err, from: url})
		}
		if err := d.run(ctx); err != nil {
			if ctx.Err() != nil {
				return nil // stopped, not failed: the next start resumes
			}
			return inFailed{err}
		}
		return inDownloaded{}
	}, id, func() { u.dl = nil })
}

func (u *Updater) startInstall() {
	if u.inst != nil || u.rec == nil {
		return
	}
	rec := *u.rec
	u.inst = u.spawn(func(ctx context.Context) any {
		if err := install(u.layout, rec, u.o.Arch, u.clock.Now()); err != nil {
			return inFailed{err}
		}
		return inInstalled{}
	}, rec.ID, func() { u.inst = nil })
}

// healthDone is the result of a health report.
type healthDone struct {
	reply HealthReply
	err   error
}

func (u *Updater) startHealth(ctx context.Context) {
	if u.health != nil {
		return
	}
	if u.o.Supervisor == nil {
		u.log.Debug("healthy, but no supervisor to tell")
		return
	}
	u.health = u.spawn(func(ctx context.Context) any {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		r, err := u.o.Supervisor.ReportHealthy(ctx)
		return healthDone{r, err}
	}, "", func() { u.health = nil })
}

// spawn runs fn in a worker whose result comes back to Run; clear is run
// by Run when the result arrives (or by stopWorkers).
func (u *Updater) spawn(fn func(context.Context) any, id string, clear func()) *worker {
	ctx, cancel := context.WithCancel(u.runCtx)
	w := &worker{cancel: cancel, done: make(chan struct{})}
	u.workers.Add(1)
	go func() {
		defer u.workers.Done()
		defer close(w.done)
		in := fn(ctx)
		if in == nil {
			return
		}
		select {
		case u.results <- result{id: id, in: wrapClear{in, clear, w}}:
		case <-ctx.Done():
		}
	}()
	return w
}

type wrapClear struct {
	in    any
	clear func()
	w     *worker
}

// note passes a progress report to Run without blocking the download: if
// Run has not read the previous one, the older is replaced.
func (u *Updater) note(ctx context.Context, p progressNote) {
	for {
		select {
		case u.progress <- p:
			return
		case <-ctx.Done():
			return
		default:
		}
		select {
		case <-u.progress:
		default:
		}
	}
}

func (u *Updater) onResult(r result) {
	wc := r.in.(wrapClear)
	wc.w.cancel()
	if (u.dl == wc.w || u.inst == wc.w || u.health == wc.w) && wc.clear != nil {
		wc.clear()
	} else {
		return // a worker stopped since: its result is stale
	}
	if h, ok := wc.in.(healthDone); ok {
		u.onHealth(h)
		return
	}
	if u.rec == nil || r.id != u.rec.ID {
		return
	}
	if f, ok := wc.in.(inFailed); ok {
		u.log.Warn("update failed", "version", u.rec.Version, "state", u.rec.State, "err", f.err)
	}
	u.apply(wc.in)
}

func (u *Updater) onHealth(h healthDone) {
	if h.err != nil {
		u.log.Warn("cannot report health to the supervisor", "err", h.err)
		return
	}
	if !h.reply.Committed || h.reply.Event == nil {
		return
	}
	u.boot.Trial = false
	ev := *h.reply.Event
	if ev.Seq > u.doc.SeenSeq {
		u.doc.SeenSeq = ev.Seq
		u.apply(inBoot{ev})
		u.save()
	}
	u.publish()
	u.changed()
}

func (u *Updater) onProgress(p progressNote) {
	if u.rec == nil || p.id != u.rec.ID || u.rec.State != StateDownloading {
		return
	}
	if p.err != nil {
		u.report("ota.progress", map[string]any{
			"version": u.rec.Version, "bytes": u.live.Load(), "size": u.rec.Size,
			"percent": percent(u.live.Load(), u.rec.Size), "url": redact.URL(p.from), "error": p.err.Error(),
		})
		return
	}
	changed := false
	if p.offset >= 0 && p.offset != u.rec.Offset {
		u.rec.Offset, changed = p.offset, true
	}
	if p.url >= 0 && p.url != u.rec.URL {
		u.rec.URL, changed = p.url, true
	}
	if changed {
		u.save()
	}
	pct := percent(p.offset, u.rec.Size)
	if step := pct / 10; step > u.pctShown {
		u.pctShown = step
		u.report("ota.progress", map[string]any{"version": u.rec.Version, "bytes": p.offset, "size": u.rec.Size, "percent": pct})
		u.publish()
		u.changed()
	}
}

func percent(n, size int64) int {
	if size <= 0 || n <= 0 {
		return 0
	}
	return int(n * 100 / size)
}

func (u *Updater) save() {
	if err := u.store.Save(u.doc); err != nil {
		u.log.Error("cannot persist the update document", "err", err)
	}
}

// shutdown stops the workers and saves how far a download got, so the
// next start resumes from there.
func (u *Updater) shutdown() {
	downloading := u.dl != nil
	u.stopWorkers()
	if r := u.rec; downloading && r != nil && r.State == StateDownloading {
		if off := u.durable.Load(); off > r.Offset {
			r.Offset = off
			u.save()
		}
	}
}

// stopWorkers cancels every worker and waits for them; a result they
// had sent is ignored by onResult.
func (u *Updater) stopWorkers() {
	u.stopUpdateWorkers()
	if u.health != nil {
		u.health.cancel()
		<-u.health.done
		u.health = nil
	}
}

// stopUpdateWorkers stops the download and the install, not a health
// report in flight (the commit of a trial must not be lost).
func (u *Updater) stopUpdateWorkers() {
	for _, w := range []*worker{u.dl, u.inst} {
		if w != nil {
			w.cancel()
			<-w.done
		}
	}
	u.dl, u.inst = nil, nil
}

func (u *Updater) report(typ string, data map[string]any) {
	if u.o.Report != nil {
		u.o.Report(typ, data)
	}
}

func (u *Updater) changed() {
	if u.o.OnChange != nil {
		u.o.OnChange()
	}
}

func (u *Updater) hook(point string, n int64) {
	if u.o.Hook != nil {
		u.o.Hook(point, n)
	}
}

// fail0 records an error that is not an update's.
func (u *Updater) fail0(err error) {
	u.lastErr = &Failure{Code: Code(err), Message: err.Error(), At: u.clock.Now().UnixMilli()}
}

// install moves the verified download into the slot: the binary first
// (chmod +x, fsync, rename, fsync the directories), then its slot.json,
// which is what makes the slot usable. It is idempotent, so a restart in
// StateDownloaded simply runs it again.
func install(l Layout, rec Update, arch string, now time.Time) error {
	s, err := ParseSigned(rec.Signed)
	if err != nil {
		return err
	}
	m := &s.Manifest
	dir, bin := l.SlotDir(rec.Slot), l.Binary(rec.Slot)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("%w: create %s: %w", ErrDownload, dir, diskErr(err))
	}
	if err := SyncDir(dir + "/.."); err != nil {
		return err
	}
	part := l.Part()
	if _, err := os.Stat(part); err == nil {
		// Checked again: a power cut since the download may have left
		// the file short, and this is the last look before it can run.
		if err := FileMatches(part, m.Size, m.SHA256); err != nil {
			return err
		}
		if err := CheckELF(part, arch); err != nil {
			return err
		}
		if err := os.Chmod(part, 0o755); err != nil {
			return err
		}
		if err := syncFile(part); err != nil {
			return err
		}
		// The slot stops being usable before its binary changes.
		if err := os.Remove(l.SlotInfoPath(rec.Slot)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if err := SyncDir(dir); err != nil {
			return err
		}
		if err := os.Rename(part, bin); err != nil {
			return fmt.Errorf("install %s: %w", bin, diskErr(err))
		}
		if err := SyncDir(dir); err != nil {
			return err
		}
		if err := SyncDir(l.Dir); err != nil {
			return err
		}
	} else if err := FileMatches(bin, m.Size, m.SHA256); err != nil {
		return fmt.Errorf("%w: the verified download is gone and slot %s does not hold it (%v)", ErrDownload, rec.Slot, err)
	}
	return l.WriteSlotInfo(rec.Slot, &SlotInfo{
		Version: m.Version.String(), Size: m.Size, SHA256: m.SHA256, Origin: OriginOTA,
		Signed: rec.Signed, Installed: now.UnixMilli(),
	})
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
