package journal

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// load reads the directory: it finds the segments, checks every record,
// and repairs the newest segment so that appending can go on.
func (j *Journal) load() error {
	entries, err := os.ReadDir(j.dir)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	var firsts []uint64
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, tmpPrefix) {
			// A segment whose creation a crash interrupted: it was never
			// renamed into place, so it holds no record.
			if err := os.Remove(filepath.Join(j.dir, name)); err != nil {
				return fmt.Errorf("journal: remove leftover %s: %w", name, err)
			}
			continue
		}
		if first, ok := parseSegName(name); ok && e.Type().IsRegular() {
			firsts = append(firsts, first)
		}
	}
	slices.Sort(firsts)

	br := bufio.NewReaderSize(nil, 64<<10)
	for i, first := range firsts {
		last := i == len(firsts)-1
		limit := uint64(math.MaxUint64)
		if !last {
			// Records at or past the next segment's first cannot be ours:
			// both would carry the same seqs.
			limit = firsts[i+1] - first
		}
		s, f, err := j.readSegment(br, first, limit, last)
		if err != nil {
			return err
		}
		j.segs = append(j.segs, s)
		j.bytes += s.size
		if last {
			j.active = f
		}
	}

	if len(j.segs) == 0 {
		return j.startSegment(1)
	}
	s := j.segs[len(j.segs)-1]
	j.next = s.first + s.readable
	if !s.sealed {
		return nil
	}
	// The newest segment is damaged: a batch torn by a power cut, most
	// likely. Its lost records may have been numbered; give up every seq
	// they could have had (a record takes at least 8 bytes) so that no seq
	// is ever used for two different records, and start a new segment to
	// carry the new seq before cutting the damaged tail.
	tail := s.size - s.end
	skip := max(1, uint64((tail+recHeaderSize-1)/recHeaderSize))
	j.next += skip
	j.stats.SkippedSeqs += skip
	old := j.active
	j.active = nil
	defer old.Close()
	if err := j.startSegment(j.next); err != nil {
		return err
	}
	if tail > 0 && s.end >= headerSize {
		if err := old.Truncate(s.end); err != nil {
			return fmt.Errorf("journal: cut torn tail of %s: %w", filepath.Base(s.path), err)
		}
		if err := old.Sync(); err != nil {
			return fmt.Errorf("journal: cut torn tail of %s: %w", filepath.Base(s.path), err)
		}
		j.bytes -= tail
		s.size = s.end
		j.stats.TornBytes += tail
		j.stats.CorruptSegments--
		j.stats.CorruptBytes -= tail
	}
	return nil
}

// startSegment creates an empty newest segment for first.
func (j *Journal) startSegment(first uint64) error {
	f, s, err := j.createSegment(first)
	if err != nil {
		return err
	}
	j.active = f
	j.segs = append(j.segs, s)
	j.bytes += s.size
	j.next = first
	return nil
}

// readSegment checks the segment starting at first, reading at most limit
// records through br. The newest segment (last) is returned open for
// appending.
func (j *Journal) readSegment(br *bufio.Reader, first, limit uint64, last bool) (*segment, *os.File, error) {
	name := segName(first)
	path := filepath.Join(j.dir, name)
	flag := os.O_RDONLY
	if last {
		flag = os.O_RDWR
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("journal: %w", err)
	}
	keep := false
	defer func() {
		if !keep {
			f.Close()
		}
	}()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("journal: %w", err)
	}
	s := &segment{first: first, path: path, size: fi.Size()}
	br.Reset(io.NewSectionReader(f, 0, s.size))
	var hdr [headerSize]byte
	n, err := io.ReadFull(br, hdr[:])
	rr := recReader{r: br, off: int64(n), limit: s.size}
	if err != nil && n == headerSize {
		err = nil
	}
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		rr.ioErrs++
	}
	if problem := headerProblem(hdr[:n], first); problem != "" {
		// The records may still be sound: each is checked against the seq
		// the file name gives it.
		j.stats.DamagedHeaders++
		s.sealed = true
		j.log.Error("journal: damaged segment header", "segment", name, "problem", problem)
	}
	s.end = rr.off
	problem := ""
	for s.readable < limit {
		off := rr.off
		var rec []byte
		if rec, problem = rr.next(first + s.readable); rec == nil {
			break
		}
		s.add(off, recordSize(len(rec)))
	}
	if s.readable == limit && rr.off < s.size {
		problem = fmt.Sprintf("records beyond seq %d, which the next segment starts at", first+limit)
	}
	j.stats.ReadErrors += rr.ioErrs
	if problem != "" || s.end < s.size {
		s.sealed = true
		j.stats.CorruptSegments++
		j.stats.CorruptBytes += s.size - s.end
		msg := "journal: damaged record; the rest of the segment is not read"
		if last {
			msg = "journal: torn or damaged tail; it is cut away"
		}
		j.log.Warn(msg, "segment", name, "seq", first+s.readable, "offset", s.end,
			"bytes", s.size-s.end, "problem", problem)
	}
	keep = last
	return s, f, nil
}
