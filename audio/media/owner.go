package media

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/loaxa/loaxa/internal/redact"
)

// job is one file being fetched: queued, then running in a worker.
type job struct {
	req    Request
	origin string
	// verify: a file of that name is in the cache but its hash is not
	// known; the worker hashes it before downloading anything.
	verify  bool
	running bool
	cancel  context.CancelCauseFunc
}

// owner is the state of the owner goroutine; nothing else touches it.
type owner struct {
	f       *Fetcher
	jobs    map[string]*job // by name: one fetch per name at a time
	queue   []*job
	running int
	index   *cacheIndex
	pinned  map[string]bool
	// failed remembers when a name+hash last failed, so Prefetch does not
	// retry it at every call.
	failed map[string]time.Time
}

// newOwner reads the index and cleans the partial directory: downloads
// that were running when the agent stopped are queued again; records
// without a file, files without a record, and partials older than
// PartialMaxAge are removed.
func (f *Fetcher) newOwner() (*owner, error) {
	o := &owner{f: f, jobs: map[string]*job{}, pinned: map[string]bool{}, failed: map[string]time.Time{}}
	o.index = loadIndex(filepath.Join(f.dir, indexName), f.log)
	des, err := os.ReadDir(f.partDir)
	if err != nil {
		return nil, fmt.Errorf("media fetcher: %w", err)
	}
	now := f.opts.Clock.Now()
	keep := map[string]bool{}
	for _, de := range des {
		base, ok := strings.CutSuffix(de.Name(), ".json")
		if !ok {
			continue
		}
		rec, err := readRecord(filepath.Join(f.partDir, de.Name()))
		part := filepath.Join(f.partDir, base+".part")
		_, perr := os.Stat(part)
		switch {
		case err != nil || perr != nil || partBase(rec.Name, rec.SHA256) != base:
			continue // removed below
		case now.Sub(time.UnixMilli(rec.Updated)) > f.opts.PartialMaxAge:
			continue
		}
		keep[base] = true
		if rec.State != stateActive || o.jobs[rec.Name] != nil {
			continue // failed: kept for a later fetch of the same content
		}
		req, err := CheckRequest(rec.URL, rec.SHA256, rec.Name)
		if err != nil {
			delete(keep, base)
			continue
		}
		j := &job{req: req, origin: "resume"}
		o.jobs[req.Name] = j
		o.queue = append(o.queue, j)
	}
	for _, de := range des {
		base := strings.TrimSuffix(strings.TrimSuffix(de.Name(), ".json"), ".part")
		if !keep[base] {
			os.RemoveAll(filepath.Join(f.partDir, de.Name()))
		}
	}
	// Temporary files of an index write cut by a crash.
	if tmps, _ := filepath.Glob(filepath.Join(f.dir, "."+indexName+".tmp-*")); len(tmps) > 0 {
		for _, t := range tmps {
			os.Remove(t)
		}
	}
	return o, nil
}

// run is the owner goroutine.
func (f *Fetcher) run(o *owner) {
	defer close(f.done)
	o.startJobs()
	o.refresh(false, "")
	for {
		select {
		case <-f.ctx.Done():
			for _, j := range o.jobs {
				if j.running {
					j.cancel(ErrClosed)
				}
			}
			// Workers checkpoint and return; their results are dropped
			// (what was running resumes at the next start).
			for ; o.running > 0; o.running-- {
				<-f.results
			}
			f.workers.Wait()
			o.saveIndex()
			return
		case m := <-f.msgs:
			o.handle(m)
		case r := <-f.results:
			o.finished(r)
		}
	}
}

func (o *owner) handle(m any) {
	switch m := m.(type) {
	case fetchMsg:
		st, err := o.fetch(m.req, "command", true)
		m.reply <- fetchReply{st, err}
	case prefetchMsg:
		o.prefetch(m.needs)
	case pinMsg:
		o.pinned = map[string]bool{}
		for _, n := range m.names {
			o.pinned[n] = true
		}
		o.refresh(true, "")
	case quotaMsg:
		o.f.quota.Store(max(0, m.bytes))
		o.refresh(true, "")
	case touchMsg:
		o.touch(m.name, m.at)
	case airMsg:
		have := cached(o.f.dir, m.name)
		if have && m.sha != "" && o.present(Request{Name: m.name, SHA256: m.sha}) == presentOther {
			// The cache holds another version of the file (the new one is
			// not fetched yet): it is not what the item must play.
			have = false
		}
		m.reply <- resolveAir(o.f.dir, m.name, have, m.streamURL, m.fallback)
	}
}

// fetch queues a request unless its file is there or it is being fetched.
func (o *owner) fetch(req Request, origin string, announce bool) (FetchStatus, error) {
	if j := o.jobs[req.Name]; j != nil {
		if j.req.SHA256 == req.SHA256 {
			if origin == "command" {
				j.origin = origin // the operator waits for its event
				j.req.URL = req.URL
			}
			return StatusFetching, nil
		}
		o.supersede(j)
	}
	verify := false
	switch o.present(req) {
	case presentSame:
		if announce {
			o.f.emit(Event{Kind: EventFetched, Name: req.Name, URL: redact.URL(req.URL), SHA256: req.SHA256,
				Origin: origin, Cached: true, Size: o.index.Files[req.Name].Size})
		}
		return StatusCached, nil
	case presentUnknown:
		verify = true
	}
	if len(o.queue) >= o.f.opts.MaxQueue {
		return "", fmt.Errorf("%w: %d are queued", ErrBusy, len(o.queue))
	}
	j := &job{req: req, origin: origin, verify: verify}
	o.jobs[req.Name] = j
	if origin == "command" {
		// Ahead of the prefetches: an operator is waiting.
		i := slices.IndexFunc(o.queue, func(q *job) bool { return q.origin != "command" })
		if i < 0 {
			i = len(o.queue)
		}
		o.queue = slices.Insert(o.queue, i, j)
	} else {
		o.queue = append(o.queue, j)
	}
	o.startJobs()
	o.publishUsage(nil)
	return StatusFetching, nil
}

func (o *owner) prefetch(needs []Request) {
	now := o.f.opts.Clock.Now()
	for _, n := range needs {
		req, err := CheckRequest(n.URL, n.SHA256, n.Name)
		if err != nil {
			o.f.log.Warn("media prefetch: skipped", "name", n.Name, "err", err)
			continue
		}
		if at, ok := o.failed[req.Name+" "+req.SHA256]; ok && now.Sub(at) < o.f.opts.RetryFailedAfter {
			continue
		}
		if o.jobs[req.Name] != nil {
			// Being fetched: the same content, or another that an operator
			// asked for, which a prefetch does not override.
			continue
		}
		if _, err := o.fetch(req, "prefetch", false); err != nil {
			o.f.log.Warn("media prefetch: not queued", "name", req.Name, "err", err)
			return
		}
	}
}

// supersede ends a job for a newer request of the same name.
func (o *owner) supersede(j *job) {
	delete(o.jobs, j.req.Name)
	if j.running {
		// Its worker returns and finished drops its result; the partial of
		// the old content is removed then.
		j.cancel(errSuperseded)
	} else {
		o.queue = slices.DeleteFunc(o.queue, func(q *job) bool { return q == j })
		o.removePartial(j.req)
	}
	o.f.emit(Event{Kind: EventFailed, Name: j.req.Name, URL: redact.URL(j.req.URL), SHA256: j.req.SHA256, Origin: j.origin,
		Reason: ReasonSuperseded, Err: "a newer fetch of this name with another sha256 replaced it"})
}

var errSuperseded = errors.New("superseded")

func (o *owner) startJobs() {
	for o.running < o.f.opts.MaxConcurrent && len(o.queue) > 0 {
		j := o.queue[0]
		o.queue = o.queue[1:]
		ctx, cancel := context.WithCancelCause(o.f.ctx)
		j.cancel, j.running = cancel, true
		o.running++
		o.f.workers.Add(1)
		go func() {
			defer o.f.workers.Done()
			r := o.f.work(ctx, j)
			cancel(nil)
			o.f.results <- r
		}()
	}
}

// finished takes a worker's result: the verified file moves into place
// here, so that the owner is the only one to change the cache's files.
func (o *owner) finished(r result) {
	j := r.job
	o.running--
	defer o.startJobs()
	if o.jobs[j.req.Name] != j {
		// Superseded while it ran: its content is not wanted any more.
		o.removePartial(j.req)
		return
	}
	delete(o.jobs, j.req.Name)
	ev := Event{Name: j.req.Name, URL: redact.URL(j.req.URL), SHA256: j.req.SHA256, Origin: j.origin,
		Bytes: r.received, Attempts: r.attempts, Resumed: r.resumed}
	if r.err == nil && !r.cached {
		if err := o.install(j.req); err != nil {
			r.err = &fetchError{reason: ReasonIO, err: err}
			if isNoSpace(err) {
				r.err = &fetchError{reason: ReasonDiskFull, err: err}
			}
		}
	}
	if r.err != nil {
		var fe *fetchError
		if !errors.As(r.err, &fe) {
			fe = &fetchError{reason: ReasonIO, err: r.err}
		}
		ev.Kind, ev.Reason, ev.Status, ev.GotSHA256, ev.Err = EventFailed, fe.reason, fe.status, fe.got, fe.Error()
		o.failed[j.req.Name+" "+j.req.SHA256] = o.f.opts.Clock.Now()
		o.f.log.Warn("media fetch failed", "name", ev.Name, "url", ev.URL, "reason", ev.Reason, "err", ev.Err)
		o.f.emit(ev)
		o.publishUsage(nil)
		return
	}
	delete(o.failed, j.req.Name+" "+j.req.SHA256)
	ev.Kind, ev.Cached, ev.Size = EventFetched, r.cached, r.size
	if r.cached {
		o.record(j.req.Name, j.req.SHA256)
	}
	o.f.log.Info("media fetched", "name", ev.Name, "url", ev.URL, "size", ev.Size, "resumed", ev.Resumed, "cached", ev.Cached)
	o.f.emit(ev)
	o.refresh(true, j.req.Name)
}

// install renames a verified partial file into the cache and records its
// hash. The rename is atomic: file:NAME sees the old file or the new one,
// never a part.
func (o *owner) install(req Request) error {
	part, rec := o.f.partPaths(req)
	dst := filepath.Join(o.f.dir, req.Name)
	if err := os.Rename(part, dst); err != nil {
		return fmt.Errorf("media %s: moving the download into place: %w", req.Name, err)
	}
	if err := syncDir(o.f.dir); err != nil {
		return fmt.Errorf("media %s: %w", req.Name, err)
	}
	os.Remove(rec)
	o.record(req.Name, req.SHA256)
	return nil
}

// record notes the hash of the cache's file name, as it is on disk now.
func (o *owner) record(name, sha string) {
	info, err := os.Stat(filepath.Join(o.f.dir, name))
	if err != nil {
		return
	}
	o.index.Files[name] = &indexEntry{SHA256: sha, Size: info.Size(), MTime: info.ModTime().UnixNano(),
		LastUsed: o.f.opts.Clock.Now().UnixMilli()}
	o.saveIndex()
}

func (o *owner) touch(name string, at time.Time) {
	if ValidName(name) != nil {
		return
	}
	now := at.UnixMilli()
	e := o.index.Files[name]
	if e == nil {
		info, err := os.Stat(filepath.Join(o.f.dir, name))
		if err != nil || !info.Mode().IsRegular() {
			return
		}
		e = &indexEntry{Size: info.Size(), MTime: info.ModTime().UnixNano()}
		o.index.Files[name] = e
	}
	// A minute is fine enough for the order, and spares the flash a write
	// per repeat of a short item.
	if now-e.LastUsed < 60_000 {
		return
	}
	e.LastUsed = now
	o.saveIndex()
}

func (o *owner) saveIndex() {
	if err := o.index.save(filepath.Join(o.f.dir, indexName)); err != nil {
		o.f.log.Warn("media index not saved", "err", err)
	}
}

type presence int

const (
	presentNone    presence = iota
	presentSame             // with the hash asked for, as recorded
	presentOther            // with another hash, as recorded
	presentUnknown          // a file whose hash is not recorded
)

// present tells whether the cache holds req's file already.
func (o *owner) present(req Request) presence {
	info, err := os.Stat(filepath.Join(o.f.dir, req.Name))
	if errors.Is(err, fs.ErrNotExist) || err == nil && !info.Mode().IsRegular() {
		return presentNone
	}
	if err != nil {
		return presentUnknown
	}
	e := o.index.Files[req.Name]
	if e == nil || e.SHA256 == "" || e.Size != info.Size() || e.MTime != info.ModTime().UnixNano() {
		return presentUnknown
	}
	if e.SHA256 == req.SHA256 {
		return presentSame
	}
	return presentOther
}

func (o *owner) removePartial(req Request) {
	part, rec := o.f.partPaths(req)
	os.Remove(part)
	os.Remove(rec)
}

// refresh scans the cache, evicts the least recently used files that are
// over the quota when evict is set (never a pinned one, one being fetched,
// or keep), and publishes the usage.
func (o *owner) refresh(evict bool, keep string) {
	files, err := scanCache(o.f.dir)
	if err != nil {
		o.f.log.Warn("media cache not scanned", "err", err)
		return
	}
	quota := o.f.quota.Load()
	used := int64(0)
	for _, c := range files {
		if c.regular {
			used += c.size
		}
	}
	changed := false
	if evict && quota > 0 && used > quota {
		var cands []cacheFile
		for _, c := range files {
			if c.regular && !o.pinned[c.name] && o.jobs[c.name] == nil && c.name != keep {
				cands = append(cands, c)
			}
		}
		lastUsed := func(c cacheFile) int64 {
			if e := o.index.Files[c.name]; e != nil && e.LastUsed > 0 {
				return e.LastUsed
			}
			return c.mtime.UnixMilli()
		}
		slices.SortFunc(cands, func(a, b cacheFile) int {
			if la, lb := lastUsed(a), lastUsed(b); la != lb {
				return int(min(max(la-lb, -1), 1))
			}
			return strings.Compare(a.name, b.name)
		})
		for _, c := range cands {
			if used <= quota {
				break
			}
			if err := os.Remove(filepath.Join(o.f.dir, c.name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				o.f.log.Warn("media eviction failed", "name", c.name, "err", err)
				continue
			}
			used -= c.size
			files = slices.DeleteFunc(files, func(f cacheFile) bool { return f.name == c.name })
			delete(o.index.Files, c.name)
			changed = true
			o.f.log.Info("media evicted for the quota", "name", c.name, "size", c.size)
			o.f.emit(Event{Kind: EventEvicted, Name: c.name, Size: c.size, Reason: "quota"})
		}
		if used > quota {
			o.f.log.Warn("media cache over its quota: the rest is pinned or being fetched", "used", used, "quota", quota)
		}
	}
	// Forget the index entries of files that are gone.
	for name := range o.index.Files {
		if !slices.ContainsFunc(files, func(c cacheFile) bool { return c.name == name }) {
			delete(o.index.Files, name)
			changed = true
		}
	}
	if changed {
		o.saveIndex()
	}
	o.publishUsage(files)
}

// publishUsage stores the usage snapshot; files nil keeps the last scan's
// file figures.
func (o *owner) publishUsage(files []cacheFile) {
	u := Usage{QuotaBytes: o.f.quota.Load(), Fetching: o.running, Queued: len(o.queue)}
	if files == nil {
		if old := o.f.usage.Load(); old != nil {
			u.UsedBytes, u.Files, u.Missing, u.MissingCount = old.UsedBytes, old.Files, old.Missing, old.MissingCount
		}
	} else {
		have := map[string]bool{}
		for _, c := range files {
			have[c.name] = true
			u.Files++
			if c.regular {
				u.UsedBytes += c.size
			}
		}
		var missing []string
		for n := range o.pinned {
			if !have[n] {
				missing = append(missing, n)
			}
		}
		slices.Sort(missing)
		u.MissingCount = len(missing)
		u.Missing = missing[:min(10, len(missing))]
	}
	if des, err := os.ReadDir(o.f.partDir); err == nil {
		for _, de := range des {
			if info, err := de.Info(); err == nil && strings.HasSuffix(de.Name(), ".part") {
				u.PartialBytes += info.Size()
			}
		}
	}
	o.f.usage.Store(&u)
}

// indexEntry is what the cache knows of one of its files.
type indexEntry struct {
	// SHA256 of the file when it had Size and MTime; "" when not known
	// (a file placed by hand, only touched).
	SHA256   string `json:"sha256,omitempty"`
	Size     int64  `json:"size"`
	MTime    int64  `json:"mtime_ns"`
	LastUsed int64  `json:"last_used"` // ms epoch; 0: never
}

// cacheIndex is DATA_DIR/media/.index.json.
type cacheIndex struct {
	V     int                    `json:"v"`
	Files map[string]*indexEntry `json:"files"`
}

// loadIndex reads the index; a missing or unreadable one is an empty index
// (hashes are then recomputed when needed, last use taken from mtime).
func loadIndex(path string, log interface{ Warn(string, ...any) }) *cacheIndex {
	ix := &cacheIndex{V: 1, Files: map[string]*indexEntry{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return ix
	}
	var got cacheIndex
	if err != nil || len(data) > 8<<20 || json.Unmarshal(data, &got) != nil || got.V != 1 {
		log.Warn("media index unreadable: starting a new one", "path", path, "err", err)
		return ix
	}
	for name, e := range got.Files {
		if ValidName(name) == nil && e != nil {
			ix.Files[name] = e
		}
	}
	return ix
}

func (ix *cacheIndex) save(path string) error {
	data, err := json.Marshal(ix)
	if err != nil {
		return err
	}
	_, err = writeAtomic(path, data)
	return err
}
