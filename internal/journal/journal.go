package journal

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

// Defaults and bounds of Options.
const (
	DefaultMaxRecord    = 64 << 10
	DefaultSegmentBytes = 256 << 10
	DefaultMaxBytes     = 8 << 20

	// minSegmentBytes keeps a segment large enough to hold a few records
	// (tests use small segments to rotate often).
	minSegmentBytes = 64
	// indexStride is how many records apart the in-memory index marks an
	// offset: Scan from a seq reads at most this many records to get there,
	// and the index costs 8 bytes per stride (10 KiB for 80,000 records).
	indexStride = 64
	// maxKeptBuf bounds the write buffer kept between Appends.
	maxKeptBuf = 256 << 10
)

// Options tunes a Journal. The zero value gives the defaults.
type Options struct {
	// MaxRecord is the largest payload Append accepts (default 64 KiB, at
	// most MaxRecordLimit). Records already on disk are read whatever it is,
	// so lowering it never loses data.
	MaxRecord int
	// SegmentBytes is the size past which Append starts a new segment file
	// (default 256 KiB). A batch is never split, so a segment holding one
	// large batch may be bigger.
	SegmentBytes int64
	// MaxBytes bounds the journal on disk, headers and damaged bytes
	// included (default 8 MiB). An Append that would pass it fails with
	// ErrFull and writes nothing.
	MaxBytes int64
	// Logger receives what Open and Scan find damaged; nil discards.
	Logger *slog.Logger
	// Deferred makes Append write without fsyncing: the records survive a
	// crash of the process at once (they are in the kernel's page cache),
	// a power cut only once Sync has returned. A caller that appends often
	// syncs from another goroutine, one fsync for all the records appended
	// meanwhile (group commit), and never waits for the disk itself; on an
	// SD card that also means one block written per Sync, not per record.
	Deferred bool
}

func (o Options) withDefaults() (Options, error) {
	if o.MaxRecord == 0 {
		o.MaxRecord = DefaultMaxRecord
	}
	if o.SegmentBytes == 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case o.MaxRecord < 0 || o.MaxRecord > MaxRecordLimit:
		return o, fmt.Errorf("journal: MaxRecord %d out of range, want 1..%d (0 for %d)", o.MaxRecord, MaxRecordLimit, DefaultMaxRecord)
	case o.SegmentBytes < minSegmentBytes:
		return o, fmt.Errorf("journal: SegmentBytes %d too small, want at least %d (0 for %d)", o.SegmentBytes, minSegmentBytes, DefaultSegmentBytes)
	case o.MaxBytes < o.SegmentBytes:
		return o, fmt.Errorf("journal: MaxBytes %d below SegmentBytes %d", o.MaxBytes, o.SegmentBytes)
	}
	return o, nil
}

// segment is one file of the journal. first and path never change; the rest
// is guarded by Journal.mu, and size is only changed with Journal.wmu held
// too, so an Append may read it holding wmu alone.
type segment struct {
	first    uint64
	path     string
	size     int64   // bytes of the file, damaged ones left in place included
	end      int64   // offset just past the last readable record
	readable uint64  // records readable from first on
	index    []int64 // index[i]: offset of record first+i*indexStride
	sealed   bool    // takes no more records: damaged, or a write to it failed
}

// add notes a record of n bytes at off; the caller holds Journal.mu.
func (s *segment) add(off int64, n int64) {
	if s.readable%indexStride == 0 {
		s.index = append(s.index, off)
	}
	s.readable++
	s.end = off + n
}

// Stats describes a journal and what was found damaged since Open.
type Stats struct {
	Bytes    int64  // on disk: headers, records and damaged bytes left in place
	Segments int    // segment files
	Records  uint64 // readable records from First on
	First    uint64 // lowest seq held (Next when empty)
	Next     uint64 // seq the next appended record gets

	// What could not be read. Open fills these in; a Scan that meets damage
	// done since (a failing SD card) adds to them.
	TornBytes       int64  // a partial or corrupt tail cut from the newest segment at Open
	CorruptSegments int    // segments whose readable part ends early; their bytes are left in place
	CorruptBytes    int64  // bytes unread in those segments
	DamagedHeaders  int    // segments with a damaged header (read by the seq in their name)
	ReadErrors      int    // read errors from the device (counted as damage too)
	SkippedSeqs     uint64 // seqs given up so that none that a lost record might have had is reused
}

// Damaged tells whether Open or Scan found anything damaged (records lost,
// or a header read around): the storage is failing or a power cut tore a
// write, and the agent raises an alarm.
func (s Stats) Damaged() bool {
	return s.TornBytes > 0 || s.CorruptSegments > 0 || s.DamagedHeaders > 0 || s.ReadErrors > 0
}

// Journal is an append-only log of records on disk, numbered by a seq that
// only grows. Its methods are safe for concurrent use.
type Journal struct {
	dir string
	opt Options
	log *slog.Logger

	// wmu serializes writers: Append holds it across its write and fsync,
	// so it also guards active, wbuf and the use of dirf (Close, which
	// closes them, takes it too). Scan, Trim and the accessors never take
	// it, so an fsync in progress delays them by no more than the short mu
	// sections around it.
	wmu    sync.Mutex
	active *os.File // the newest segment, open for appending; nil when it must not grow
	wbuf   []byte
	dirf   *os.File // the directory: its flock keeps a second Journal out; fsynced after a rotation

	// mu guards the fields below and the segments' mutable fields. It is
	// never held across a write or an fsync (Scan holds it while opening
	// segment files, so that Trim cannot unlink one between the two).
	mu     sync.Mutex
	closed bool
	segs   []*segment
	next   uint64
	trim   uint64 // records below are hidden (Trim)
	bytes  int64
	stats  Stats // damage counters only
}

// Open opens the journal in dir, creating dir if needed, and recovers what a
// power cut left: a partial or corrupt record at the end of the newest
// segment is cut away, damage in an older segment ends that segment's
// readable part and is left in place. Open fails only on an I/O error (dir
// not writable, say) or when another Journal has dir open; what it dropped
// is in Stats.
func Open(dir string, o Options) (*Journal, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	dirf, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	if err := lockDir(dirf); err != nil {
		dirf.Close()
		return nil, fmt.Errorf("journal: %s: %w", dir, err)
	}
	j := &Journal{dir: dir, opt: o, log: o.Logger.With("journal", dir), dirf: dirf}
	if err := j.load(); err != nil {
		if j.active != nil {
			j.active.Close()
		}
		dirf.Close() // releases the lock
		return nil, err
	}
	return j, nil
}

// Append writes recs as consecutive records and fsyncs them once: when it
// returns nil they survive a power cut, and first is the seq of recs[0]. On
// ErrFull or ErrTooLarge nothing was written. On another error (the device)
// a prefix of recs may still be found after a restart, under seqs that are
// never reused for anything else.
func (j *Journal) Append(recs ...[]byte) (first uint64, err error) {
	var need int64
	for i, r := range recs {
		if len(r) > j.opt.MaxRecord {
			return 0, fmt.Errorf("%w: record %d of %d is %d bytes, MaxRecord is %d", ErrTooLarge, i+1, len(recs), len(r), j.opt.MaxRecord)
		}
		need += recordSize(len(r))
	}
	j.wmu.Lock()
	defer j.wmu.Unlock()

	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return 0, ErrClosed
	}
	first = j.next
	if len(recs) == 0 {
		j.mu.Unlock()
		return first, nil
	}
	seg := j.segs[len(j.segs)-1]
	rotate := j.active == nil || seg.sealed || (seg.size > headerSize && seg.size+need > j.opt.SegmentBytes)
	grow := need
	if rotate {
		grow += headerSize
	}
	over := j.bytes + grow - j.opt.MaxBytes
	j.mu.Unlock()
	switch {
	case need+headerSize > j.opt.MaxBytes:
		return 0, fmt.Errorf("%w: a batch of %d bytes cannot fit in MaxBytes %d", ErrTooLarge, need, j.opt.MaxBytes)
	case over > 0:
		return 0, fmt.Errorf("%w: %d bytes more than MaxBytes %d", ErrFull, over, j.opt.MaxBytes)
	}

	if rotate {
		f, s, err := j.createSegment(first)
		if err != nil {
			return 0, err
		}
		if j.active != nil {
			if j.opt.Deferred {
				// Sync cannot reach a closed segment: what it holds is made
				// durable here, once per rotation.
				if err := j.active.Sync(); err != nil {
					j.log.Warn("journal: fsync of the segment left behind failed", "err", err)
				}
			}
			j.active.Close()
		}
		j.active = f
		j.mu.Lock()
		j.segs = append(j.segs, s)
		j.bytes += s.size
		j.mu.Unlock()
		seg = s
	}

	buf := j.wbuf[:0]
	for i, r := range recs {
		buf = appendRecord(buf, first+uint64(i), r)
	}
	if cap(buf) <= maxKeptBuf {
		j.wbuf = buf
	} else {
		j.wbuf = nil
	}
	off := seg.size
	_, err = j.active.WriteAt(buf, off)
	if err == nil && !j.opt.Deferred {
		err = j.active.Sync()
	}
	if err != nil {
		j.writeFailed(seg, off, len(buf), len(recs))
		return 0, fmt.Errorf("journal: append %d records at seq %d: %w", len(recs), first, err)
	}

	j.mu.Lock()
	if !seg.sealed { // a Scan may have found the segment damaged meanwhile
		o := off
		for _, r := range recs {
			seg.add(o, recordSize(len(r)))
			o += recordSize(len(r))
		}
	}
	seg.size += int64(len(buf))
	j.bytes += int64(len(buf))
	j.next += uint64(len(recs))
	j.mu.Unlock()
	return first, nil
}

// Sync makes every record appended before it was called durable (see
// Options.Deferred; without it every Append already is). It does not hold
// the writers' lock during the fsync, so Appends go on meanwhile.
func (j *Journal) Sync() error {
	j.wmu.Lock()
	f := j.active
	j.wmu.Unlock()
	if f == nil {
		return nil
	}
	err := f.Sync()
	if errors.Is(err, os.ErrClosed) {
		// Rotated (and so synced) or closed (and so synced) meanwhile.
		return nil
	}
	if err != nil {
		return fmt.Errorf("journal: fsync: %w", err)
	}
	return nil
}

// writeFailed leaves the journal consistent after a failed write or fsync:
// after a failed fsync the file's contents cannot be trusted (the kernel
// may have dropped the dirty pages), so the segment takes no more records
// and the batch's seqs are given up. The caller holds wmu.
func (j *Journal) writeFailed(seg *segment, off int64, n, recs int) {
	cut := j.active.Truncate(off) == nil
	j.active.Close()
	j.active = nil
	j.mu.Lock()
	defer j.mu.Unlock()
	seg.sealed = true
	if !cut {
		seg.size += int64(n)
		j.bytes += int64(n)
	}
	j.next += uint64(recs)
	j.stats.SkippedSeqs += uint64(recs)
}

// createSegment makes the segment file for first: header written to a
// temporary file, fsynced, renamed into place, directory fsynced; so a
// segment file either does not exist or has its whole header.
func (j *Journal) createSegment(first uint64) (*os.File, *segment, error) {
	name := segName(first)
	path := filepath.Join(j.dir, name)
	tmp := filepath.Join(j.dir, tmpPrefix+name)
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("journal: new segment: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(appendHeader(nil, first)); err != nil {
		return nil, nil, fmt.Errorf("journal: new segment: %w", err)
	}
	if err := f.Sync(); err != nil {
		return nil, nil, fmt.Errorf("journal: new segment: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, nil, fmt.Errorf("journal: new segment: %w", err)
	}
	ok = true
	if err := j.dirf.Sync(); err != nil {
		// The file is in place; only its directory entry may not survive a
		// power cut. Use it: failing here would leave it half adopted.
		j.log.Warn("journal: fsync of the directory failed", "err", err)
	}
	return f, &segment{first: first, path: path, size: headerSize, end: headerSize}, nil
}

// Scan calls fn for every record from seq from on, in order. rec is valid
// only until fn returns (copy it to keep it). Records appended while Scan
// runs may or may not be seen. fn may call any method of the journal. An
// error from fn stops the scan and is returned as is. A record found
// damaged since Open (a failing SD card) ends its segment's readable part,
// is counted in Stats and skipped: Scan goes on with the next segment.
func (j *Journal) Scan(from uint64, fn func(seq uint64, rec []byte) error) error {
	type part struct {
		seg   *segment
		f     *os.File
		seq   uint64 // seq of the record at off
		off   int64
		skip  uint64 // records to read before the first one for fn
		count uint64 // records to read from off
		end   int64
	}
	var parts []part
	defer func() {
		for _, p := range parts {
			p.f.Close()
		}
	}()
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return ErrClosed
	}
	from = max(from, j.trim)
	for _, s := range j.segs {
		if s.readable == 0 || s.first+s.readable <= from {
			continue
		}
		k := uint64(0)
		if from > s.first {
			k = from - s.first
		}
		i := k / indexStride
		f, err := os.Open(s.path)
		if err != nil {
			j.mu.Unlock()
			return fmt.Errorf("journal: scan: %w", err)
		}
		parts = append(parts, part{
			seg: s, f: f, seq: s.first + i*indexStride, off: s.index[i],
			skip: k - i*indexStride, count: s.readable - i*indexStride, end: s.end,
		})
	}
	j.mu.Unlock()

	var br *bufio.Reader
	var rr recReader
	for _, p := range parts {
		sr := io.NewSectionReader(p.f, p.off, p.end-p.off)
		if br == nil {
			br = bufio.NewReaderSize(sr, 32<<10)
		} else {
			br.Reset(sr)
		}
		rr.r, rr.off, rr.limit, rr.ioErrs = br, p.off, p.end, 0
		for i := uint64(0); i < p.count; i++ {
			seq := p.seq + i
			off := rr.off
			rec, problem := rr.next(seq)
			if rec == nil {
				if problem == "" {
					problem = "segment shorter than when opened"
				}
				j.damagedSince(p.seg, seq, off, problem, rr.ioErrs)
				break
			}
			if i < p.skip {
				continue
			}
			if err := fn(seq, rec); err != nil {
				return err
			}
		}
	}
	return nil
}

// damagedSince notes that the record seq of s, at off, no longer reads:
// the segment's readable part ends there, as Open would have decided.
func (j *Journal) damagedSince(s *segment, seq uint64, off int64, problem string, ioErrs int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.stats.ReadErrors += ioErrs
	if seq >= s.first+s.readable {
		return // seen by another Scan already
	}
	j.stats.CorruptSegments++
	j.stats.CorruptBytes += s.end - off
	s.readable = seq - s.first
	s.end = off
	s.index = s.index[:(s.readable+indexStride-1)/indexStride]
	s.sealed = true
	j.log.Error("journal: record damaged since open; the rest of its segment is skipped",
		"segment", filepath.Base(s.path), "seq", seq, "offset", off, "problem", problem)
}

// Trim allows records below before to be discarded: Scan and First no
// longer show them, and every segment whose records are all below before
// is deleted. The newest segment is never deleted, even when all of its
// records are trimmed, so that the seq survives a restart; it goes once a
// newer one is started. Trim writes nothing, so records that share the
// newest segment with kept ones (or whose file deletion a power cut undid)
// may be seen again after a restart: a consumer that must not see a record
// twice keeps its own durable cursor, as Queue does.
func (j *Journal) Trim(before uint64) error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return ErrClosed
	}
	j.trim = max(j.trim, min(before, j.next))
	n := 0
	for n+1 < len(j.segs) && j.segs[n+1].first <= j.trim {
		j.bytes -= j.segs[n].size
		n++
	}
	gone := slices.Clone(j.segs[:n])
	j.segs = slices.Delete(j.segs, 0, n)
	j.mu.Unlock()
	var errs []error
	for _, s := range gone {
		// No directory fsync: if a power cut undoes the deletion, the
		// segment is merely read again (see above).
		if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("journal: trim: %w", errors.Join(errs...))
	}
	return nil
}

// First returns the lowest seq the journal holds, or Next when it holds
// none. Seqs may have gaps (records lost to damage, a failed Append).
func (j *Journal) First() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.firstLocked(j.trim)
}

// firstLocked returns the lowest readable seq at or above from, or next.
func (j *Journal) firstLocked(from uint64) uint64 {
	from = max(from, j.trim)
	for _, s := range j.segs {
		if lo := max(s.first, from); lo < s.first+s.readable {
			return lo
		}
	}
	return j.next
}

// Next returns the seq the next appended record will get. Seqs are never
// reused, across restarts and trims included.
func (j *Journal) Next() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.next
}

// Stats returns the journal's size and what was found damaged.
func (j *Journal) Stats() Stats {
	j.mu.Lock()
	defer j.mu.Unlock()
	st := j.stats
	st.Bytes = j.bytes
	st.Segments = len(j.segs)
	st.Records = j.countLocked(0)
	st.First = j.firstLocked(0)
	st.Next = j.next
	return st
}

// countLocked returns how many readable records have a seq at or above from.
func (j *Journal) countLocked(from uint64) uint64 {
	from = max(from, j.trim)
	var n uint64
	for _, s := range j.segs {
		if lo, hi := max(s.first, from), s.first+s.readable; lo < hi {
			n += hi - lo
		}
	}
	return n
}

// holdsLocked tells whether record seq is readable.
func (j *Journal) holdsLocked(seq uint64) bool {
	if seq < j.trim {
		return false
	}
	for _, s := range j.segs {
		if seq >= s.first && seq < s.first+s.readable {
			return true
		}
	}
	return false
}

// Close releases the journal; it waits for an Append in progress. It is safe
// to call more than once.
func (j *Journal) Close() error {
	j.wmu.Lock()
	defer j.wmu.Unlock()
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil
	}
	j.closed = true
	var errs []error
	if j.active != nil {
		if j.opt.Deferred {
			errs = append(errs, j.active.Sync())
		}
		errs = append(errs, j.active.Close())
		j.active = nil
	}
	errs = append(errs, j.dirf.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("journal: close: %w", err)
	}
	return nil
}
