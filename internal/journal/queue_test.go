package journal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

func openQ(t testing.TB, dir string, o Options) *Queue {
	t.Helper()
	q, err := OpenQueue(dir, o)
	if err != nil {
		t.Fatalf("OpenQueue: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func pendingSeqs(t testing.TB, q *Queue, from uint64, max int) []uint64 {
	t.Helper()
	es, err := q.Pending(from, max)
	if err != nil {
		t.Fatalf("Pending: %v", err)
	}
	var s []uint64
	for _, e := range es {
		if string(e.Data) != fmt.Sprint("msg ", e.Seq) {
			t.Fatalf("entry %d holds %q", e.Seq, e.Data)
		}
		s = append(s, e.Seq)
	}
	return s
}

func pushN(t testing.TB, q *Queue, n int) {
	t.Helper()
	for range n {
		next := q.data.Next()
		if _, err := q.Push([]byte(fmt.Sprint("msg ", next))); err != nil {
			t.Fatalf("Push: %v", err)
		}
	}
}

func seqs(from, to uint64, except ...uint64) []uint64 {
	var s []uint64
	for i := from; i <= to; i++ {
		if !slices.Contains(except, i) {
			s = append(s, i)
		}
	}
	return s
}

func TestQueueOutOfOrderAcks(t *testing.T) {
	tests := []struct {
		name       string
		acks       [][]uint64 // Ack calls
		wantFloor  uint64
		wantNow    []uint64 // pending in this process
		wantReopen []uint64 // pending after a restart
	}{
		{"nothing acked", nil, 1, seqs(1, 10), seqs(1, 10)},
		{"in order", [][]uint64{{1}, {2}, {3}}, 4, seqs(4, 10), seqs(4, 10)},
		{"one batch out of order", [][]uint64{{3, 1, 2}}, 4, seqs(4, 10), seqs(4, 10)},
		{"hole at the head", [][]uint64{{2, 3, 5}}, 1, seqs(1, 10, 2, 3, 5), seqs(1, 10)},
		{"hole filled later", [][]uint64{{2, 3, 5}, {1}}, 4, seqs(4, 10, 5), seqs(4, 10)},
		{"acked twice", [][]uint64{{1, 1, 2}, {2, 1}}, 3, seqs(3, 10), seqs(3, 10)},
		{"everything, backwards", [][]uint64{seqs(10, 10), seqs(9, 9), {8, 7, 6, 5, 4, 3, 2, 1}}, 11, nil, nil},
		{"the tail only", [][]uint64{{9, 10}}, 1, seqs(1, 8), seqs(1, 10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			q := openQ(t, dir, small)
			pushN(t, q, 10)
			for _, a := range tt.acks {
				if err := q.Ack(a...); err != nil {
					t.Fatalf("Ack(%v): %v", a, err)
				}
			}
			if got := pendingSeqs(t, q, 0, 100); !slices.Equal(got, tt.wantNow) {
				t.Fatalf("pending %v, want %v", got, tt.wantNow)
			}
			st := q.Stats()
			if st.Floor != tt.wantFloor || st.Persisted != tt.wantFloor || st.Pending != uint64(len(tt.wantNow)) {
				t.Fatalf("stats %+v, want floor %d persisted and %d pending", st, tt.wantFloor, len(tt.wantNow))
			}
			q.Close()
			q = openQ(t, dir, small)
			if got := pendingSeqs(t, q, 0, 100); !slices.Equal(got, tt.wantReopen) {
				t.Fatalf("after reopen: pending %v, want %v", got, tt.wantReopen)
			}
		})
	}
}

func TestQueuePendingWindow(t *testing.T) {
	q := openQ(t, t.TempDir(), small)
	pushN(t, q, 20)
	if got := pendingSeqs(t, q, 0, 5); !slices.Equal(got, seqs(1, 5)) {
		t.Fatalf("Pending(0, 5) = %v", got)
	}
	// A sender with 1..5 in flight asks for what follows.
	if got := pendingSeqs(t, q, 6, 5); !slices.Equal(got, seqs(6, 10)) {
		t.Fatalf("Pending(6, 5) = %v", got)
	}
	if err := q.Ack(7, 8); err != nil {
		t.Fatal(err)
	}
	if got := pendingSeqs(t, q, 6, 5); !slices.Equal(got, []uint64{6, 9, 10, 11, 12}) {
		t.Fatalf("Pending(6, 5) after acking 7 and 8 = %v", got)
	}
	if got := pendingSeqs(t, q, 0, 0); got != nil {
		t.Fatalf("Pending(0, 0) = %v", got)
	}
	if got := pendingSeqs(t, q, 100, 5); got != nil {
		t.Fatalf("Pending past the end = %v", got)
	}
}

func TestQueueAckTrimsAndCostsOneCursor(t *testing.T) {
	dir := memDir(t)
	q := openQ(t, dir, small)
	pushN(t, q, 200)
	recDir := filepath.Join(dir, "records")
	before := len(segFiles(t, recDir))
	cursors := q.Stats().Cursors.Next
	// Out of order first: the floor does not move, nothing is written.
	if err := q.Ack(seqs(2, 50)...); err != nil {
		t.Fatal(err)
	}
	if got := q.Stats().Cursors.Next; got != cursors {
		t.Fatalf("an Ack that does not move the floor wrote %d cursor records", got-cursors)
	}
	if got := len(segFiles(t, recDir)); got != before {
		t.Fatalf("segments went from %d to %d without the floor moving", before, got)
	}
	// One call acking a hundred records writes one cursor record.
	if err := q.Ack(seqs(1, 150)...); err != nil {
		t.Fatal(err)
	}
	if got := q.Stats().Cursors.Next; got != cursors+1 {
		t.Fatalf("one Ack call wrote %d cursor records, want 1", got-cursors)
	}
	st := q.Stats()
	if st.Records.First > 151 || st.Records.Segments >= before || st.Pending != 50 {
		t.Fatalf("stats %+v: want the acknowledged segments deleted and 50 pending", st)
	}
	if err := q.Ack(seqs(151, 200)...); err != nil {
		t.Fatal(err)
	}
	if st := q.Stats(); st.Records.Segments != 1 || st.Pending != 0 || st.Records.Next != 201 {
		t.Fatalf("after acking all: %+v, want one segment, nothing pending, Next 201", st)
	}
	// Many Ack calls keep the cursor journal small (its segments made tiny
	// here so that it rotates often).
	q.Close()
	saved := cursorOptions
	cursorOptions = Options{MaxRecord: 64, SegmentBytes: 256, MaxBytes: 1024}
	t.Cleanup(func() { cursorOptions = saved })
	q = openQ(t, dir, small)
	for range 300 {
		pushN(t, q, 1)
		if err := q.Ack(q.data.Next() - 1); err != nil {
			t.Fatal(err)
		}
	}
	if st := q.Stats(); st.Cursors.Segments > 2 || st.Records.Segments > 2 {
		t.Fatalf("stats %+v: the journals grow with acknowledged records", st)
	}
	q.Close()
	q = openQ(t, dir, small)
	if got := pendingSeqs(t, q, 0, 10); got != nil {
		t.Fatalf("after reopen, acknowledged records came back: %v", got)
	}
	if next := q.data.Next(); next != 501 {
		t.Fatalf("Next = %d after reopen, want 501", next)
	}
}

func TestQueueFullAndUnknownAcks(t *testing.T) {
	q := openQ(t, t.TempDir(), Options{SegmentBytes: 256, MaxBytes: 1024})
	var err error
	for err == nil {
		_, err = q.Push(make([]byte, 40))
	}
	if !errors.Is(err, ErrFull) {
		t.Fatalf("Push on a full queue = %v, want ErrFull", err)
	}
	pend, _ := q.Pending(0, 1000)
	next := q.data.Next()
	if err := q.Ack(next, next+5); !errors.Is(err, ErrUnknownSeq) {
		t.Fatalf("Ack of seqs never pushed = %v, want ErrUnknownSeq", err)
	}
	// Acks make room even when the queue is full.
	var all []uint64
	for _, e := range pend {
		all = append(all, e.Seq)
	}
	if err := q.Ack(append(all, next+9)...); !errors.Is(err, ErrUnknownSeq) {
		t.Fatalf("Ack = %v, want ErrUnknownSeq for the one seq never pushed", err)
	}
	if st := q.Stats(); st.Pending != 0 || st.Floor != next {
		t.Fatalf("stats %+v: the known seqs were not acknowledged", st)
	}
	if _, err := q.Push(make([]byte, 40)); err != nil {
		t.Fatalf("Push after acking all: %v", err)
	}
}

// TestQueueFloorCrossesGaps: seqs given up after a torn tail hold nothing,
// so they must not hold back the floor.
func TestQueueFloorCrossesGaps(t *testing.T) {
	dir := t.TempDir()
	q := openQ(t, dir, small)
	pushN(t, q, 5)
	q.Close()
	recDir := filepath.Join(dir, "records")
	segs := segFiles(t, recDir)
	f, _ := os.OpenFile(segs[len(segs)-1], os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte("torn"))
	f.Close()
	q = openQ(t, dir, small)
	if st := q.Stats(); st.Records.SkippedSeqs == 0 {
		t.Fatalf("stats %+v, want seqs skipped after the torn tail", st)
	}
	pushN(t, q, 3)
	got := pendingSeqs(t, q, 0, 100)
	if len(got) != 8 || got[5] == 6 {
		t.Fatalf("pending %v, want 1..5 and three past a gap", got)
	}
	if err := q.Ack(got...); err != nil {
		t.Fatal(err)
	}
	if st := q.Stats(); st.Floor != q.data.Next() || st.Persisted != st.Floor {
		t.Fatalf("stats %+v: the floor stopped at the gap", st)
	}
}

func TestQueueLostCursorRedelivers(t *testing.T) {
	dir := t.TempDir()
	q := openQ(t, dir, small)
	pushN(t, q, 5)
	if err := q.Ack(1, 2); err != nil {
		t.Fatal(err)
	}
	q.Close()
	if err := os.RemoveAll(filepath.Join(dir, "acks")); err != nil {
		t.Fatal(err)
	}
	q = openQ(t, dir, small)
	// At least once: without its cursor the queue delivers everything held.
	if got := pendingSeqs(t, q, 0, 100); !slices.Equal(got, seqs(1, 5)) {
		t.Fatalf("pending %v, want 1..5 again", got)
	}
}

// TestQueueConcurrent pushes from two goroutines while a sender takes
// windows of pending records and acknowledges them out of order, as the
// outbox does: every record is delivered, none is lost.
func TestQueueConcurrent(t *testing.T) {
	q := openQ(t, memDir(t), Options{SegmentBytes: 512, MaxBytes: 1 << 20})
	const pushers, each = 2, 150
	var wg sync.WaitGroup
	errs := make(chan error, pushers+1)
	for p := range pushers {
		wg.Go(func() {
			for i := range each {
				if _, err := q.Push([]byte(fmt.Sprintf("p%d-%d", p, i))); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	delivered := map[string]bool{}
	wg.Go(func() {
		for len(delivered) < pushers*each {
			pend, err := q.Pending(0, 8)
			if err != nil {
				errs <- err
				return
			}
			var acks []uint64
			for i := len(pend) - 1; i >= 0; i-- { // newest first
				delivered[string(pend[i].Data)] = true
				acks = append(acks, pend[i].Seq)
			}
			if err := q.Ack(acks...); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if st := q.Stats(); st.Pending != 0 || st.Floor != pushers*each+1 {
		t.Fatalf("stats %+v, want everything acknowledged", st)
	}
}
