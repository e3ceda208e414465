package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
)

// ErrUnknownSeq is returned (wrapped) by Queue.Ack for a seq that was never
// pushed; the other seqs of the call are acknowledged all the same.
var ErrUnknownSeq = errors.New("journal: ack of a seq never pushed")

// errStop ends a Scan early; it never leaves the package.
var errStop = errors.New("stop")

// The cursor journal is tiny: one 16-byte record per Ack call that moves
// the floor, trimmed after each, so two segments at most exist.
var cursorOptions = Options{MaxRecord: 64, SegmentBytes: 16 << 10, MaxBytes: 64 << 10}

// Entry is a record waiting for delivery. Data is the Queue's own copy.
type Entry struct {
	Seq  uint64
	Data []byte
}

// QueueStats describes a Queue.
type QueueStats struct {
	Pending   uint64 // records pushed and not acknowledged
	Floor     uint64 // every record below it is acknowledged
	Persisted uint64 // the floor a restart starts from; Floor once the last Ack returned
	Records   Stats  // the records' journal
	Cursors   Stats  // the journal of ack cursors
}

// Queue is a durable FIFO on a Journal: what is pushed is delivered until
// acknowledged, across crashes and power cuts. Acknowledgements may come in
// any order (several QoS 1 messages in flight); the contiguous acknowledged
// prefix, the floor, is persisted as a 16-byte cursor record in a second,
// small journal, and segments entirely below it are deleted.
//
// The guarantee, exactly:
//   - A record is delivered at least once: once Push returns nil it is
//     returned by Pending, in seq order, in this process and after any
//     number of crashes, until it is acknowledged. The only exception is
//     damage to the storage itself (a checksum that fails), which drops the
//     record and shows in Stats.
//   - Once Ack returns nil, every acknowledged record below the floor (all
//     records below it acknowledged too) never comes back, not even after a
//     crash. A record acknowledged out of order, above a record still
//     unacknowledged, is not returned again by this process but comes back
//     after a crash until the floor passes it: such duplicates are what
//     QoS 1 allows, and the receiver drops them by seq.
//   - A Push that fails with ErrFull or ErrTooLarge stored nothing; one that
//     fails otherwise may or may not be delivered.
//
// This assumes the storage keeps what fsync confirmed (an SD card that
// acknowledges writes it has not made can lose the newest records, which
// Open then reports as a torn tail).
//
// Each Push and each Ack call that moves the floor costs one fsync; Ack
// takes many seqs at once so that acknowledgements arriving together cost
// one.
type Queue struct {
	data *Journal // the records
	acks *Journal // the cursors: each record is a floor, little-endian uint64

	// ackMu serializes Ack, so that cursors are written in increasing order.
	ackMu sync.Mutex

	// mu guards floor, persisted and acked. Lock order: mu before data's.
	mu        sync.Mutex
	floor     uint64
	persisted uint64
	acked     map[uint64]struct{} // acknowledged readable records at or above floor
}

// OpenQueue opens the queue in dir (records in dir/records, cursors in
// dir/acks); o applies to the records' journal. Like Open, it fails only on
// I/O errors: a lost cursor means records are delivered again.
func OpenQueue(dir string, o Options) (*Queue, error) {
	data, err := Open(filepath.Join(dir, "records"), o)
	if err != nil {
		return nil, err
	}
	co := cursorOptions
	co.Logger = o.Logger
	co.Deferred = o.Deferred
	acks, err := Open(filepath.Join(dir, "acks"), co)
	if err != nil {
		data.Close()
		return nil, err
	}
	q := &Queue{data: data, acks: acks, acked: map[uint64]struct{}{}}
	var last uint64
	err = acks.Scan(0, func(seq uint64, rec []byte) error {
		if len(rec) == 8 {
			q.persisted = max(q.persisted, binary.LittleEndian.Uint64(rec))
			last = seq
		}
		return nil
	})
	if err != nil {
		q.Close()
		return nil, err
	}
	// Finish what a crash may have interrupted: the trims after the last cursor.
	if err := errors.Join(acks.Trim(last), data.Trim(q.persisted)); err != nil {
		q.Close()
		return nil, err
	}
	// Nothing below the first record held is pending: a restart would
	// start there too, so it counts as persisted.
	q.floor = max(q.persisted, data.First())
	q.persisted = q.floor
	return q, nil
}

// Push appends recs durably (one fsync) and returns the seq of the first.
// ErrFull passes through: nothing was stored.
func (q *Queue) Push(recs ...[]byte) (first uint64, err error) {
	return q.data.Append(recs...)
}

// Pending returns up to max unacknowledged records with a seq at or above
// from, in seq order: Pending(0, n) is the head of the queue, and a sender
// with messages in flight asks for Pending(lastSent+1, n).
func (q *Queue) Pending(from uint64, max int) ([]Entry, error) {
	if max <= 0 {
		return nil, nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []Entry
	err := q.data.Scan(from, func(seq uint64, rec []byte) error {
		if seq < q.floor {
			return nil
		}
		if _, ok := q.acked[seq]; ok {
			return nil
		}
		out = append(out, Entry{Seq: seq, Data: append([]byte(nil), rec...)})
		if len(out) == max {
			return errStop
		}
		return nil
	})
	if err != nil && err != errStop {
		return out, err
	}
	return out, nil
}

// Ack marks the records seqs delivered, in any order, and persists the new
// floor with at most one fsync; segments entirely below it are deleted.
// Seqs already acknowledged are ignored; a seq never pushed yields an error
// wrapping ErrUnknownSeq after the others are taken.
func (q *Queue) Ack(seqs ...uint64) error {
	q.ackMu.Lock()
	defer q.ackMu.Unlock()

	q.mu.Lock()
	d := q.data
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		q.mu.Unlock()
		return ErrClosed
	}
	var unknown []uint64
	for _, s := range seqs {
		switch {
		case s < q.floor:
		case s >= d.next:
			unknown = append(unknown, s)
		case d.holdsLocked(s):
			q.acked[s] = struct{}{}
		}
	}
	// The floor moves over acknowledged records and over seqs that hold
	// nothing; it stops at d.next, the seq an Append in progress may be
	// writing.
	for q.floor < d.next {
		if _, ok := q.acked[q.floor]; ok {
			delete(q.acked, q.floor)
			q.floor++
		} else if d.holdsLocked(q.floor) {
			break
		} else {
			q.floor = d.firstLocked(q.floor)
		}
	}
	floor, move := q.floor, q.floor > q.persisted
	d.mu.Unlock()
	q.mu.Unlock()

	var err error
	if len(unknown) > 0 {
		err = fmt.Errorf("%w: %v", ErrUnknownSeq, unknown)
	}
	if !move {
		return err
	}
	at, aerr := q.acks.Append(binary.LittleEndian.AppendUint64(nil, floor))
	if aerr != nil {
		return errors.Join(fmt.Errorf("journal: persist ack floor %d: %w", floor, aerr), err)
	}
	q.mu.Lock()
	q.persisted = floor
	q.mu.Unlock()
	return errors.Join(err, q.acks.Trim(at), q.data.Trim(floor))
}

// Stats returns the queue's depth and its journals' stats.
func (q *Queue) Stats() QueueStats {
	q.mu.Lock()
	defer q.mu.Unlock()
	st := QueueStats{Floor: q.floor, Persisted: q.persisted, Records: q.data.Stats(), Cursors: q.acks.Stats()}
	q.data.mu.Lock()
	n := q.data.countLocked(q.floor)
	q.data.mu.Unlock()
	st.Pending = n - min(n, uint64(len(q.acked)))
	return st
}

// Sync makes what was pushed and acknowledged before it durable (see
// Options.Deferred).
func (q *Queue) Sync() error { return errors.Join(q.data.Sync(), q.acks.Sync()) }

// Next is the seq the next Push gets (when it succeeds).
func (q *Queue) Next() uint64 { return q.data.Next() }

// Close closes both journals; it is safe to call more than once.
func (q *Queue) Close() error {
	return errors.Join(q.data.Close(), q.acks.Close())
}

// Scan calls fn for every unacknowledged record, in order (at start, to
// load what a previous run left).
func (q *Queue) Scan(fn func(seq uint64, rec []byte) error) error {
	q.mu.Lock()
	floor := q.floor
	q.mu.Unlock()
	return q.data.Scan(floor, func(seq uint64, rec []byte) error {
		q.mu.Lock()
		_, acked := q.acked[seq]
		q.mu.Unlock()
		if acked {
			return nil
		}
		return fn(seq, rec)
	})
}
