package ota

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/loaxa/loaxa/internal/backoff"
	"github.com/loaxa/loaxa/internal/clock"
	"github.com/loaxa/loaxa/internal/redact"
)

// download fetches one release into download.part, resuming with HTTP
// Range requests from what is already on disk. It is owned by the
// updater's goroutine, which runs it in a worker and reads its progress.
type download struct {
	part       string
	urls       []string
	size       int64
	sha        string
	start      int64 // persisted offset
	startURL   int
	client     *http.Client
	clock      clock.Clock
	stall      time.Duration
	checkpoint int64
	maxRounds  int
	backoff    *backoff.Backoff
	log        *slog.Logger
	// progress is called from the worker after each checkpoint, with an
	// offset that is fsynced, and the URL in use; it must not block.
	progress func(offset int64, url int)
	// live is called with every offset reached (not necessarily durable),
	// durable with every offset fsynced.
	live    func(offset int64)
	durable func(offset int64)
	// hook is the crash-test hook (may be nil).
	hook func(point string, n int64)
	// attempt reports a failed attempt (for events and logs); may be nil.
	attempt func(url string, err error)
}

// errFatal marks download errors that another attempt cannot cure.
type errFatal struct{ error }

func (e errFatal) Unwrap() error { return e.error }

// run downloads and verifies. It returns nil when download.part holds the
// release, or an error wrapping ErrDownload, ErrHashMismatch,
// ErrSizeMismatch or ErrDiskFull; ctx ending returns ctx.Err().
func (d *download) run(ctx context.Context) error {
	f, err := os.OpenFile(d.part, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("%w: open %s: %w", ErrDownload, d.part, diskErr(err))
	}
	defer f.Close()
	off := d.start
	if fi, err := f.Stat(); err != nil {
		return fmt.Errorf("%w: %v", ErrDownload, err)
	} else if fi.Size() < off {
		// The file lost bytes that were reported durable (a file system
		// repaired after a power cut): trust none of it.
		d.log.Warn("download.part is shorter than its checkpoint; starting over", "size", fi.Size(), "checkpoint", off)
		off = 0
	}
	// Bytes past the checkpoint may be garbage after a power cut.
	if err := f.Truncate(off); err != nil {
		return fmt.Errorf("%w: truncate %s: %w", ErrDownload, d.part, diskErr(err))
	}
	idx := d.startURL % len(d.urls)
	failedRounds, failedInRound := 0, 0
	for off < d.size {
		n, err := d.fetch(ctx, f, d.urls[idx], &off)
		// Make what arrived durable before it is reported, so a resume
		// (after a power cut, or this agent stopping now) starts from it.
		if serr := f.Sync(); serr != nil {
			return fmt.Errorf("%w: fsync %s: %w", ErrDownload, d.part, diskErr(serr))
		}
		d.durable(off)
		d.progress(off, idx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil && off < d.size {
			err = fmt.Errorf("the server ended the response at byte %d of %d", off, d.size)
		}
		if err == nil {
			break
		}
		var fatal errFatal
		if errors.As(err, &fatal) {
			return fatal.error
		}
		if d.attempt != nil {
			d.attempt(d.urls[idx], err)
		}
		d.log.Info("download interrupted", "url", redact.URL(d.urls[idx]), "offset", off, "err", err)
		if n > 0 {
			// Progress: the link works, just try again soon.
			d.backoff.Reset()
			failedRounds, failedInRound = 0, 0
		} else {
			idx = (idx + 1) % len(d.urls)
			failedInRound++
			if failedInRound == len(d.urls) {
				failedInRound = 0
				failedRounds++
				if failedRounds >= d.maxRounds {
					return fmt.Errorf("%w: %d rounds over %d URL(s) without a byte; last: %v", ErrDownload, failedRounds, len(d.urls), err)
				}
			}
		}
		if err := d.backoff.Wait(ctx); err != nil {
			return err
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("%w: %v", ErrDownload, err)
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return fmt.Errorf("%w: read back %s: %v", ErrDownload, d.part, err)
	}
	if n != d.size {
		return fmt.Errorf("%w: downloaded %d bytes, the manifest says %d", ErrSizeMismatch, n, d.size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != d.sha {
		return fmt.Errorf("%w: got %s, the manifest says %s (a tampered or corrupt file on the server)", ErrHashMismatch, got, d.sha)
	}
	return nil
}

// fetch runs one request from *off and appends what arrives, returning the
// bytes written. A stalled body (nothing for d.stall) is cut.
func (d *download) fetch(ctx context.Context, f *os.File, url string, off *int64) (int64, error) {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, errFatal{fmt.Errorf("%w: %s: %v", ErrDownload, redact.URL(url), err)}
	}
	if *off > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(*off, 10)+"-")
	}
	// The stall watchdog: a 4G link can go silent without closing.
	stall := d.clock.NewTimer(d.stall)
	stopped := make(chan struct{})
	watchdog := make(chan struct{})
	go func() {
		defer close(watchdog)
		select {
		case <-stall.C():
			cancel()
		case <-stopped:
		}
	}()
	defer func() {
		stall.Stop()
		close(stopped)
		<-watchdog
	}()
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, stalled(rctx, ctx, d.stall, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusPartialContent:
		start, total, err := parseContentRange(resp.Header.Get("Content-Range"))
		if err != nil {
			return 0, err
		}
		if total >= 0 && total != d.size {
			return 0, errFatal{fmt.Errorf("%w: the server has %d bytes, the manifest says %d", ErrSizeMismatch, total, d.size)}
		}
		if start != *off {
			return 0, fmt.Errorf("asked for byte %d, the server sent from %d", *off, start)
		}
	case http.StatusOK:
		if resp.ContentLength >= 0 && resp.ContentLength != d.size {
			return 0, errFatal{fmt.Errorf("%w: the server has %d bytes, the manifest says %d", ErrSizeMismatch, resp.ContentLength, d.size)}
		}
		if *off > 0 {
			// The server ignores Range: start over rather than append.
			d.log.Info("the server ignores Range; downloading from the start", "url", redact.URL(url))
			if err := f.Truncate(0); err != nil {
				return 0, errFatal{fmt.Errorf("%w: %w", ErrDownload, diskErr(err))}
			}
			*off = 0
		}
	case http.StatusRequestedRangeNotSatisfiable:
		if *off == d.size {
			return 0, nil
		}
		return 0, fmt.Errorf("%s: the server refuses byte range %d-", redact.URL(url), *off)
	default:
		return 0, fmt.Errorf("%s: %s", redact.URL(url), resp.Status)
	}
	if _, err := f.Seek(*off, io.SeekStart); err != nil {
		return 0, errFatal{fmt.Errorf("%w: %v", ErrDownload, err)}
	}
	buf := make([]byte, 32<<10)
	var written int64
	lastSync := *off
	for *off < d.size {
		if ctx.Err() != nil { // buffered bytes would keep coming for a while
			return written, ctx.Err()
		}
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			stall.Reset(d.stall)
			if *off+int64(n) > d.size {
				return written, errFatal{fmt.Errorf("%w: the server sends more than the manifest's %d bytes", ErrSizeMismatch, d.size)}
			}
			if _, err := f.Write(buf[:n]); err != nil {
				return written, errFatal{fmt.Errorf("%w: write %s: %w", ErrDownload, d.part, diskErr(err))}
			}
			*off += int64(n)
			written += int64(n)
			d.live(*off)
			if d.hook != nil {
				d.hook("download", *off)
			}
			if *off-lastSync >= d.checkpoint {
				if err := f.Sync(); err != nil {
					return written, errFatal{fmt.Errorf("%w: fsync %s: %w", ErrDownload, d.part, diskErr(err))}
				}
				lastSync = *off
				d.durable(*off)
				d.progress(*off, -1)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return written, stalled(rctx, ctx, d.stall, rerr)
		}
	}
	return written, nil
}

// stalled names a request cut by the stall watchdog.
func stalled(rctx, ctx context.Context, stall time.Duration, err error) error {
	if rctx.Err() != nil && ctx.Err() == nil {
		return fmt.Errorf("nothing received for %v", stall)
	}
	return err
}

// parseContentRange reads "bytes START-END/TOTAL" (TOTAL may be "*": -1).
func parseContentRange(s string) (start, total int64, err error) {
	rest, ok := strings.CutPrefix(s, "bytes ")
	rng, tot, ok2 := strings.Cut(rest, "/")
	a, _, ok3 := strings.Cut(rng, "-")
	if !ok || !ok2 || !ok3 {
		return 0, 0, fmt.Errorf("bad Content-Range %q", s)
	}
	if start, err = strconv.ParseInt(a, 10, 64); err != nil {
		return 0, 0, fmt.Errorf("bad Content-Range %q", s)
	}
	total = -1
	if tot != "*" {
		if total, err = strconv.ParseInt(tot, 10, 64); err != nil {
			return 0, 0, fmt.Errorf("bad Content-Range %q", s)
		}
	}
	return start, total, nil
}

// diskErr turns a full disk into ErrDiskFull.
func diskErr(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w: %v", ErrDiskFull, err)
	}
	return err
}
