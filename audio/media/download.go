package media

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/loaxa/loaxa/internal/atomicfile"
	"github.com/loaxa/loaxa/internal/backoff"
)

// result is what a worker reports to the owner.
type result struct {
	job      *job
	err      error // nil: the verified file waits in the partial directory (or is cached)
	size     int64
	received int64
	attempts int
	resumed  bool
	cached   bool
}

// fetchError is a failed fetch: a reason for the event, and whether
// another attempt may do better.
type fetchError struct {
	reason    string
	status    int
	got       string
	transient bool
	err       error
}

func (e *fetchError) Error() string { return e.err.Error() }
func (e *fetchError) Unwrap() error { return e.err }

// The states of a progress record.
const (
	stateActive = "active" // resumed at the next start
	stateFailed = "failed" // kept for a later fetch of the same content
)

// progress is the record beside a partial file: how many of its bytes are
// synced to disk, and what the server said about the file. A partial file
// is keyed by name and hash, not URL: the same hash is the same bytes,
// wherever they come from.
type progress struct {
	V            int    `json:"v"`
	Name         string `json:"name"`
	URL          string `json:"url"`
	SHA256       string `json:"sha256"`
	Size         int64  `json:"size"`
	Total        int64  `json:"total"` // -1: unknown
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
	State        string `json:"state"`
	Updated      int64  `json:"updated"` // ms epoch
}

func readRecord(path string) (progress, error) {
	var p progress
	data, err := os.ReadFile(path)
	if err != nil {
		return p, err
	}
	if len(data) > 16<<10 {
		return p, errors.New("progress record too large")
	}
	if err := json.Unmarshal(data, &p); err != nil {
		return p, err
	}
	if p.V != 1 || ValidName(p.Name) != nil || len(p.SHA256) != 64 || p.Size < 0 {
		return p, errors.New("progress record not valid")
	}
	return p, nil
}

// partBase is the file name, without extension, of a partial download.
func partBase(name, sha string) string {
	if len(sha) > 16 {
		sha = sha[:16]
	}
	return name + "." + sha
}

func (f *Fetcher) partPaths(req Request) (part, rec string) {
	base := filepath.Join(f.partDir, partBase(req.Name, req.SHA256))
	return base + ".part", base + ".json"
}

// work runs one job on its worker goroutine.
func (f *Fetcher) work(ctx context.Context, j *job) result {
	r := result{job: j}
	if j.verify {
		// A file placed by hand, or whose record was lost: it may be the
		// one asked for already.
		if sum, size, err := hashFile(filepath.Join(f.dir, j.req.Name)); err == nil && sum == j.req.SHA256 {
			r.cached, r.size = true, size
			return r
		}
	}
	d := &download{f: f, req: j.req, r: &r, total: -1}
	r.err = d.run(ctx)
	r.size = d.off
	return r
}

// download is one file being downloaded, across attempts.
type download struct {
	f       *Fetcher
	req     Request
	r       *result
	file    *os.File
	recPath string
	off     int64 // bytes in the partial file
	lastCk  int64 // off at the last checkpoint
	total   int64 // the file's size; -1 while unknown
	etag    string
	lastMod string
}

func (d *download) run(ctx context.Context) error {
	part, rec := d.f.partPaths(d.req)
	d.recPath = rec
	file, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return localErr(d.req, err)
	}
	d.file = file
	defer func() {
		if d.file != nil {
			d.file.Close()
		}
	}()
	if p, err := readRecord(rec); err == nil && p.SHA256 == d.req.SHA256 && p.Name == d.req.Name {
		// Only what the record says was synced is trusted: bytes written
		// after the last checkpoint may not have reached the disk.
		if info, err := file.Stat(); err == nil && info.Size() >= p.Size {
			d.off, d.total, d.etag, d.lastMod = p.Size, p.Total, p.ETag, p.LastModified
		}
	}
	if err := file.Truncate(d.off); err != nil {
		return localErr(d.req, err)
	}
	d.r.resumed = d.off > 0
	if err := d.checkpoint(stateActive); err != nil {
		return d.fail(err)
	}
	bo := backoff.New(d.f.opts.BackoffBase, d.f.opts.BackoffMax, d.f.opts.Clock, d.f.opts.Rand)
	fails := 0
	for {
		before := d.off
		err := d.attempt(ctx)
		if err == nil {
			break
		}
		if cause := context.Cause(ctx); cause != nil {
			d.checkpoint(stateActive) // resumed at the next start
			return cause
		}
		var fe *fetchError
		if !errors.As(err, &fe) || !fe.transient {
			return d.fail(err)
		}
		if cerr := d.checkpoint(stateActive); cerr != nil {
			return d.fail(cerr)
		}
		if d.off-before >= d.f.opts.CheckpointBytes {
			fails = 0
			bo.Reset()
		}
		if fails++; fails > d.f.opts.MaxRetries {
			reason := ReasonNetwork
			if fe.reason == ReasonTooSlow {
				reason = ReasonTooSlow
			}
			return d.fail(&fetchError{reason: reason, status: fe.status,
				err: fmt.Errorf("gave up after %d attempts in a row without progress, at byte %d: %w", fails, d.off, fe.err)})
		}
		wait := bo.Next()
		d.f.log.Info("media fetch retrying", "name", d.req.Name, "at", d.off, "in", wait, "err", err)
		if wait > 0 {
			t := d.f.opts.Clock.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				d.checkpoint(stateActive)
				return context.Cause(ctx)
			case <-t.C():
			}
		}
	}
	// Recorded whole: a crash while hashing resumes with nothing to fetch.
	if err := d.checkpoint(stateActive); err != nil {
		return d.fail(err)
	}
	d.file.Close()
	d.file = nil
	// What is verified is what is on the disk, not what went by.
	sum, _, err := hashFile(part)
	if err != nil {
		return d.fail(localErr(d.req, err))
	}
	if sum != d.req.SHA256 {
		os.Remove(part)
		os.Remove(rec)
		return &fetchError{reason: ReasonHashMismatch, got: sum,
			err: fmt.Errorf("media %s: the %d bytes received hash to %s, want %s; the file is not kept", d.req.Name, d.off, sum, d.req.SHA256)}
	}
	return nil
}

// fail ends the download: the partial file is kept (state failed) when a
// later fetch of the same content may continue it, removed otherwise.
func (d *download) fail(err error) error {
	var fe *fetchError
	if !errors.As(err, &fe) {
		fe = &fetchError{reason: ReasonIO, err: err}
	}
	switch fe.reason {
	case ReasonNetwork, ReasonTooSlow, ReasonHTTPStatus, ReasonBadRedirect:
		if d.off > 0 && d.checkpoint(stateFailed) == nil {
			return fe
		}
	}
	if d.file != nil {
		d.file.Close()
		d.file = nil
	}
	part, rec := d.f.partPaths(d.req)
	os.Remove(part)
	os.Remove(rec)
	return fe
}

// checkpoint syncs the partial file, then records its size: a crash at
// any moment leaves a record that never claims unsynced bytes.
func (d *download) checkpoint(state string) error {
	if d.file != nil {
		if err := d.file.Sync(); err != nil {
			return localErr(d.req, err)
		}
	}
	data, _ := json.Marshal(progress{V: 1, Name: d.req.Name, URL: d.req.URL, SHA256: d.req.SHA256, Size: d.off,
		Total: d.total, ETag: d.etag, LastModified: d.lastMod, State: state, Updated: d.f.opts.Clock.Now().UnixMilli()})
	if _, err := writeAtomic(d.recPath, data); err != nil {
		return localErr(d.req, err)
	}
	d.lastCk = d.off
	return nil
}

// restart drops the partial content: the server will not continue it.
func (d *download) restart() error {
	d.off, d.lastCk, d.total, d.etag, d.lastMod = 0, 0, -1, "", ""
	d.r.resumed = false
	if err := d.file.Truncate(0); err != nil {
		return localErr(d.req, err)
	}
	return nil
}

var errTooSlow = errors.New("too slow")

// attempt is one HTTP request, continuing from d.off.
func (d *download) attempt(ctx context.Context) error {
	d.r.attempts++
	actx, cancel := context.WithCancelCause(ctx)
	var got atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.f.watch(actx, cancel, &got)
	}()
	defer func() {
		cancel(nil)
		wg.Wait()
	}()
	req, err := http.NewRequestWithContext(actx, http.MethodGet, d.req.URL, nil)
	if err != nil {
		return &fetchError{reason: ReasonIO, err: fmt.Errorf("media %s: %w", d.req.Name, err)}
	}
	req.Header.Set("User-Agent", "loaxa")
	if d.off > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", d.off))
		// If the file changed on the server, send it whole rather than
		// the rest of another file.
		if d.etag != "" {
			req.Header.Set("If-Range", d.etag)
		} else if d.lastMod != "" {
			req.Header.Set("If-Range", d.lastMod)
		}
	}
	resp, err := d.f.client.Do(req)
	if err != nil {
		return d.netErr(actx, err)
	}
	defer resp.Body.Close()
	code := resp.StatusCode
	switch {
	case code == http.StatusOK:
		if d.off > 0 {
			d.f.log.Info("media fetch: the server sends the whole file again", "name", d.req.Name, "had", d.off)
			if err := d.restart(); err != nil {
				return err
			}
		}
		d.total = resp.ContentLength
	case code == http.StatusPartialContent:
		start, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != d.off {
			if err := d.restart(); err != nil {
				return err
			}
			return &fetchError{reason: ReasonNetwork, transient: true,
				err: fmt.Errorf("media %s: asked for bytes from %d, the server sent %q", d.req.Name, d.off, resp.Header.Get("Content-Range"))}
		}
		d.total = total
		d.r.resumed = true
	case code == http.StatusRequestedRangeNotSatisfiable:
		if _, total, ok := parseContentRange(resp.Header.Get("Content-Range")); ok && d.off > 0 && total == d.off {
			d.total = total
			return nil // the partial file was whole already
		}
		if err := d.restart(); err != nil {
			return err
		}
		return &fetchError{reason: ReasonNetwork, transient: true, err: fmt.Errorf("media %s: the server refused to resume", d.req.Name)}
	default:
		fe := &fetchError{reason: ReasonHTTPStatus, status: code,
			err: fmt.Errorf("media %s: the server answered %s, want 200 or 206", d.req.Name, resp.Status)}
		fe.transient = code == http.StatusRequestTimeout || code == http.StatusTooEarly || code == http.StatusTooManyRequests || code >= 500
		return fe
	}
	if et := resp.Header.Get("ETag"); et != "" && !strings.HasPrefix(et, "W/") {
		d.etag = et // only a strong validator may guard a range
	}
	d.lastMod = resp.Header.Get("Last-Modified")
	if err := d.checkSize(d.total); err != nil {
		return err
	}
	if err := d.checkSpace(d.total - d.off); err != nil {
		return err
	}
	buf := make([]byte, 32<<10)
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if err := d.checkSize(d.off + int64(n)); err != nil {
				return err
			}
			if err := d.write(buf[:n]); err != nil {
				return err
			}
			got.Add(int64(n))
			d.r.received += int64(n)
			if d.off-d.lastCk >= d.f.opts.CheckpointBytes {
				if err := d.checkpoint(stateActive); err != nil {
					return err
				}
				if err := d.checkSpace(0); err != nil {
					return err
				}
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return d.netErr(actx, rerr)
		}
	}
	if d.total >= 0 && d.off < d.total {
		return &fetchError{reason: ReasonNetwork, transient: true, err: fmt.Errorf("media %s: the connection ended at byte %d of %d", d.req.Name, d.off, d.total)}
	}
	d.total = d.off
	return nil
}

func (d *download) write(p []byte) error {
	if hook := d.f.beforeWrite; hook != nil {
		if err := hook(d.off, len(p)); err != nil {
			return localErr(d.req, err)
		}
	}
	if _, err := d.file.WriteAt(p, d.off); err != nil {
		return localErr(d.req, err)
	}
	d.off += int64(len(p))
	return nil
}

// checkSize refuses a file larger than MaxFileSize or than the quota.
func (d *download) checkSize(n int64) error {
	if n > d.f.opts.MaxFileSize {
		return &fetchError{reason: ReasonTooLarge, err: fmt.Errorf("media %s: %d bytes or more, the limit is %d", d.req.Name, n, d.f.opts.MaxFileSize)}
	}
	if q := d.f.quota.Load(); q > 0 && n > q {
		return &fetchError{reason: ReasonTooLarge, err: fmt.Errorf("media %s: %d bytes or more, larger than the cache quota of %d", d.req.Name, n, q)}
	}
	return nil
}

// checkSpace refuses to fill the file system: need more bytes must leave
// MinFreeBytes free.
func (d *download) checkSpace(need int64) error {
	if d.f.opts.MinFreeBytes < 0 {
		return nil
	}
	free, err := d.f.freeSpace(d.f.dir)
	if err != nil {
		d.f.log.Warn("media: free space unknown", "err", err)
		return nil
	}
	if free-max(need, 0) < d.f.opts.MinFreeBytes {
		return &fetchError{reason: ReasonDiskFull, err: fmt.Errorf("media %s: %d bytes to come, %d free, and %d must stay free", d.req.Name, max(need, 0), free, d.f.opts.MinFreeBytes)}
	}
	return nil
}

// netErr classifies an error of the request or the body.
func (d *download) netErr(actx context.Context, err error) error {
	if errors.Is(context.Cause(actx), errTooSlow) {
		return &fetchError{reason: ReasonTooSlow, transient: true,
			err: fmt.Errorf("media %s: less than %d bytes in %v", d.req.Name, d.f.minBytes(), d.f.opts.RateWindow)}
	}
	if errors.Is(err, errBadRedirect) {
		return &fetchError{reason: ReasonBadRedirect, err: fmt.Errorf("media %s: %w", d.req.Name, errors.Unwrap(err))}
	}
	if strings.Contains(err.Error(), "response headers exceeded") {
		return &fetchError{reason: ReasonTooLarge, err: fmt.Errorf("media %s: the response headers exceed %d bytes", d.req.Name, d.f.opts.MaxHeaderBytes)}
	}
	return &fetchError{reason: ReasonNetwork, transient: true, err: fmt.Errorf("media %s: %w", d.req.Name, err)}
}

func localErr(req Request, err error) error {
	if isNoSpace(err) {
		return &fetchError{reason: ReasonDiskFull, err: fmt.Errorf("media %s: the disk is full: %w", req.Name, err)}
	}
	return &fetchError{reason: ReasonIO, err: fmt.Errorf("media %s: %w", req.Name, err)}
}

func isNoSpace(err error) bool { return errors.Is(err, syscall.ENOSPC) }

func (f *Fetcher) minBytes() int64 {
	return int64(float64(f.opts.MinRate) * f.opts.RateWindow.Seconds())
}

// watch cuts a connection that brings less than MinRate×RateWindow bytes
// in a RateWindow, the wait for its headers included: a server that
// trickles would otherwise hold a download slot for ever.
func (f *Fetcher) watch(ctx context.Context, cancel context.CancelCauseFunc, got *atomic.Int64) {
	t := f.opts.Clock.NewTicker(f.opts.RateWindow)
	defer t.Stop()
	var last int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			n := got.Load()
			if n-last < f.minBytes() {
				cancel(errTooSlow)
				return
			}
			last = n
		}
	}
}

// parseContentRange reads "bytes a-b/total" or "bytes */total"; total is
// -1 for "*".
func parseContentRange(s string) (start, total int64, ok bool) {
	rest, ok := strings.CutPrefix(s, "bytes ")
	if !ok {
		return 0, 0, false
	}
	rng, tot, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, false
	}
	total = -1
	if tot != "*" {
		t, err := strconv.ParseInt(tot, 10, 64)
		if err != nil || t < 0 {
			return 0, 0, false
		}
		total = t
	}
	if rng == "*" {
		return 0, total, total >= 0
	}
	a, b, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start || total >= 0 && end >= total {
		return 0, 0, false
	}
	return start, total, true
}

// hashFile returns the SHA-256 (hex) and size of a file.
func hashFile(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// cacheFile is a media file of the cache directory.
type cacheFile struct {
	name    string
	size    int64
	mtime   time.Time
	regular bool // false: a link placed by hand, never counted nor evicted
}

func scanCache(dir string) ([]cacheFile, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []cacheFile
	for _, de := range des {
		if ValidName(de.Name()) != nil {
			continue
		}
		switch {
		case de.Type().IsRegular():
			info, err := de.Info()
			if err == nil {
				out = append(out, cacheFile{name: de.Name(), size: info.Size(), mtime: info.ModTime(), regular: true})
			}
		case de.Type()&fs.ModeSymlink != 0:
			info, err := os.Stat(filepath.Join(dir, de.Name()))
			if err == nil && info.Mode().IsRegular() {
				out = append(out, cacheFile{name: de.Name(), size: info.Size(), mtime: info.ModTime()})
			}
		}
	}
	return out, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func writeAtomic(path string, data []byte) (bool, error) {
	return atomicfile.WriteFile(path, data, 0o644)
}
