package ota

import (
	"context"
	"time"

	"github.com/loaxa/loaxa/internal/backoff"
	"github.com/loaxa/loaxa/internal/redact"
)

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
