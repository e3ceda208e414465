package journal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// small makes segments rotate every few records.
var small = Options{SegmentBytes: 512, MaxBytes: 64 << 10}

func TestAppendScanAcrossSegmentsAndReopen(t *testing.T) {
	dir := t.TempDir()
	j := openT(t, dir, small)
	var want []rec
	n := 0
	for batch := 1; n < 250; batch = batch%5 + 1 {
		var recs []string
		for range batch {
			recs = append(recs, payload(n))
			n++
		}
		first := appendT(t, j, recs...)
		for i, r := range recs {
			want = append(want, rec{first + uint64(i), r})
		}
	}
	if want[0].seq != 1 {
		t.Fatalf("first seq %d, want 1", want[0].seq)
	}
	check := func(j *Journal) {
		t.Helper()
		// Every starting point, so the index and its strides are all used.
		for from := uint64(0); from <= uint64(len(want))+2; from++ {
			k := max(0, min(int(from)-1, len(want)))
			wantRecs(t, scanAll(t, j, from), want[k:])
		}
		st := j.Stats()
		if st.Records != uint64(len(want)) || st.First != 1 || st.Next != uint64(len(want))+1 || st.Damaged() {
			t.Fatalf("stats %+v, want %d records from 1, nothing dropped", st, len(want))
		}
	}
	check(j)
	if segs := len(segFiles(t, dir)); segs < 10 {
		t.Fatalf("%d segments, want rotation at SegmentBytes", segs)
	}
	for _, f := range segFiles(t, dir) {
		if sz := fileSize(t, f); sz > small.SegmentBytes {
			t.Errorf("%s is %d bytes, above SegmentBytes %d", filepath.Base(f), sz, small.SegmentBytes)
		}
	}
	j.Close()
	j = openT(t, dir, small)
	check(j)
}

func TestErrFullWritesNothing(t *testing.T) {
	o := Options{SegmentBytes: 256, MaxBytes: 1024, MaxRecord: 100}
	tests := []struct {
		name    string
		recs    [][]byte
		wantErr error
	}{
		{"record above MaxRecord", [][]byte{make([]byte, 101)}, ErrTooLarge},
		{"batch larger than the journal", func() [][]byte {
			var b [][]byte
			for range 11 {
				b = append(b, make([]byte, 100))
			}
			return b
		}(), ErrTooLarge},
		{"record that does not fit any more", [][]byte{make([]byte, 100)}, ErrFull},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			j := openT(t, dir, o)
			// Fill up with 50-byte records until the journal refuses.
			var full error
			for full == nil {
				_, full = j.Append(make([]byte, 50))
			}
			if !errors.Is(full, ErrFull) {
				t.Fatalf("filling: %v, want ErrFull", full)
			}
			before := j.Stats()
			if before.Bytes > o.MaxBytes {
				t.Fatalf("journal holds %d bytes, MaxBytes is %d", before.Bytes, o.MaxBytes)
			}
			if _, err := j.Append(tt.recs...); !errors.Is(err, tt.wantErr) {
				t.Fatalf("Append = %v, want %v", err, tt.wantErr)
			}
			if after := j.Stats(); after != before {
				t.Fatalf("a refused Append changed the journal: %+v, was %+v", after, before)
			}
			files := segFiles(t, dir)
			var total int64
			for _, f := range files {
				total += fileSize(t, f)
			}
			if total != before.Bytes {
				t.Fatalf("files hold %d bytes, stats say %d", total, before.Bytes)
			}
			// Trimming makes room again; the seq goes on.
			if err := j.Trim(j.Next()); err != nil {
				t.Fatal(err)
			}
			first, err := j.Append(make([]byte, 50))
			if err != nil || first != before.Next {
				t.Fatalf("after Trim: Append = %d, %v; want %d, nil", first, err, before.Next)
			}
		})
	}
}

func TestSeqNeverReused(t *testing.T) {
	tests := []struct {
		name string
		do   func(t *testing.T, dir string, j *Journal) *Journal
	}{
		{"reopen", func(t *testing.T, dir string, j *Journal) *Journal {
			j.Close()
			return openT(t, dir, small)
		}},
		{"trim everything", func(t *testing.T, dir string, j *Journal) *Journal {
			if err := j.Trim(j.Next()); err != nil {
				t.Fatal(err)
			}
			return j
		}},
		{"trim everything and reopen", func(t *testing.T, dir string, j *Journal) *Journal {
			if err := j.Trim(j.Next()); err != nil {
				t.Fatal(err)
			}
			if n := len(segFiles(t, dir)); n != 1 {
				t.Fatalf("%d segments left after trimming everything, want the newest only", n)
			}
			j.Close()
			return openT(t, dir, small)
		}},
		{"trim past the end and reopen", func(t *testing.T, dir string, j *Journal) *Journal {
			if err := j.Trim(1 << 40); err != nil {
				t.Fatal(err)
			}
			j.Close()
			return openT(t, dir, small)
		}},
		{"torn batch at the end", func(t *testing.T, dir string, j *Journal) *Journal {
			// What a power cut during an Append leaves: the start of a
			// batch that was never reported written.
			j.Close()
			segs := segFiles(t, dir)
			f, err := os.OpenFile(segs[len(segs)-1], os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			torn := appendRecord(nil, 999, []byte("never reported"))
			f.Write(torn[:len(torn)-3])
			f.Close()
			return openT(t, dir, small)
		}},
		{"older segments deleted by hand", func(t *testing.T, dir string, j *Journal) *Journal {
			j.Close()
			segs := segFiles(t, dir)
			for _, f := range segs[:len(segs)-1] {
				os.Remove(f)
			}
			return openT(t, dir, small)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := memDir(t)
			j := openT(t, dir, small)
			seen := map[uint64]bool{}
			var last uint64
			for round := range 4 {
				for i := range 30 {
					first := appendT(t, j, payload(round*100+i))
					if seen[first] || first <= last {
						t.Fatalf("round %d: seq %d given again (last was %d)", round, first, last)
					}
					seen[first], last = true, first
				}
				j = tt.do(t, dir, j)
				if next := j.Next(); next <= last {
					t.Fatalf("round %d: Next = %d after %s, but seq %d was used", round, next, tt.name, last)
				}
			}
		})
	}
}

func TestTrimDeletesWholeSegments(t *testing.T) {
	dir := t.TempDir()
	j := openT(t, dir, small)
	for i := range 100 {
		appendT(t, j, payload(i))
	}
	segs := segFiles(t, dir)
	secondFirst, _ := parseSegName(filepath.Base(segs[1]))
	// Trimming below the second segment's start keeps every file.
	if err := j.Trim(secondFirst - 1); err != nil {
		t.Fatal(err)
	}
	if got := len(segFiles(t, dir)); got != len(segs) {
		t.Fatalf("%d segments after a trim inside the first, want %d", got, len(segs))
	}
	if got := scanAll(t, j, 0); got[0].seq != secondFirst-1 {
		t.Fatalf("scan starts at %d, want %d", got[0].seq, secondFirst-1)
	}
	if err := j.Trim(secondFirst); err != nil {
		t.Fatal(err)
	}
	if got := segFiles(t, dir); len(got) != len(segs)-1 || got[0] != segs[1] {
		t.Fatalf("after Trim(%d): %v, want the first segment gone", secondFirst, got)
	}
	if f := j.First(); f != secondFirst {
		t.Fatalf("First = %d, want %d", f, secondFirst)
	}
	if err := j.Trim(1); err != nil { // a lower trim changes nothing
		t.Fatal(err)
	}
	if f := j.First(); f != secondFirst {
		t.Fatalf("First = %d after a lower Trim, want %d", f, secondFirst)
	}
	if err := j.Trim(j.Next()); err != nil {
		t.Fatal(err)
	}
	if st := j.Stats(); st.Segments != 1 || st.Records != 0 || st.First != st.Next {
		t.Fatalf("after trimming all: %+v, want the newest segment only, no record", st)
	}
	if got := scanAll(t, j, 0); len(got) != 0 {
		t.Fatalf("scan after trimming all returned %d records", len(got))
	}
}

func TestOptions(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want string // part of the error, "" for none
	}{
		{"defaults", Options{}, ""},
		{"small segments", Options{SegmentBytes: 64, MaxBytes: 64}, ""},
		{"negative MaxRecord", Options{MaxRecord: -1}, "MaxRecord -1"},
		{"MaxRecord above the format", Options{MaxRecord: MaxRecordLimit + 1}, "MaxRecord"},
		{"tiny segments", Options{SegmentBytes: 10}, "SegmentBytes 10"},
		{"MaxBytes below a segment", Options{SegmentBytes: 4096, MaxBytes: 1000}, "MaxBytes 1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := Open(t.TempDir(), tt.o)
			if err == nil {
				j.Close()
			}
			if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Open = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestSecondOpenIsRefused(t *testing.T) {
	dir := t.TempDir()
	j := openT(t, dir, Options{})
	if j2, err := Open(dir, Options{}); !errors.Is(err, ErrLocked) {
		if j2 != nil {
			j2.Close()
		}
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	j.Close()
	j3 := openT(t, dir, Options{})
	j3.Close()
}

func TestClosed(t *testing.T) {
	j := openT(t, t.TempDir(), Options{})
	appendT(t, j, "x")
	for range 2 {
		if err := j.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	if _, err := j.Append([]byte("y")); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close = %v, want ErrClosed", err)
	}
	if err := j.Scan(0, func(uint64, []byte) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Scan after Close = %v, want ErrClosed", err)
	}
	if err := j.Trim(1); !errors.Is(err, ErrClosed) {
		t.Errorf("Trim after Close = %v, want ErrClosed", err)
	}
}

func TestOpenFailsOnIOErrorsOnly(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads and writes whatever the permissions say")
	}
	dir := t.TempDir()
	j := openT(t, dir, Options{})
	appendT(t, j, "x")
	j.Close()
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	f := segFiles(t, dir)[0]
	if err := os.Chmod(f, 0o200); err != nil {
		t.Fatal(err)
	}
	if j, err := Open(dir, Options{}); err == nil {
		j.Close()
		t.Fatal("Open of an unreadable segment succeeded")
	}
}

func TestScanCallbackMayUseTheJournal(t *testing.T) {
	dir := t.TempDir()
	j := openT(t, dir, small)
	for i := range 50 {
		appendT(t, j, payload(i))
	}
	var got []rec
	err := j.Scan(0, func(seq uint64, r []byte) error {
		got = append(got, rec{seq, string(r)})
		if seq%10 == 0 {
			// Trimming what is being read, and appending, must not break
			// the scan in progress.
			if err := j.Trim(seq + 5); err != nil {
				return err
			}
			if _, err := j.Append([]byte("more")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(got); i++ {
		if got[i].seq <= got[i-1].seq {
			t.Fatalf("scan went back from %d to %d", got[i-1].seq, got[i].seq)
		}
	}
	if got[0].seq != 1 || len(got) < 50 {
		t.Fatalf("scan saw %d records from %d, want the 50 written at least", len(got), got[0].seq)
	}
	stop := errors.New("stop here")
	n := 0
	if err := j.Scan(0, func(uint64, []byte) error { n++; return stop }); err != stop || n != 1 {
		t.Fatalf("Scan = %v after %d calls, want the callback's error after 1", err, n)
	}
}

func TestConcurrentAppendScanTrim(t *testing.T) {
	j := openT(t, memDir(t), Options{SegmentBytes: 1024, MaxBytes: 1 << 20})
	var wg sync.WaitGroup
	const writers, each = 4, 100
	errs := make(chan error, 16)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if _, err := j.Append([]byte(fmt.Sprintf("w%d-%d", w, i)), []byte("second")); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	done := make(chan struct{})
	var readers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				last := uint64(0)
				err := j.Scan(0, func(seq uint64, r []byte) error {
					if seq <= last {
						return fmt.Errorf("seq %d after %d", seq, last)
					}
					last = seq
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
				j.Stats()
			}
		})
	}
	readers.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			if err := j.Trim(j.Next() / 2); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(done)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if next := j.Next(); next != writers*each*2+1 {
		t.Fatalf("Next = %d, want %d", next, writers*each*2+1)
	}
}

// Deferred appends are visible at once and after a reopen (a crash of the
// process keeps the page cache), and Sync makes them durable; a rotation
// syncs the segment it leaves.
func TestDeferredAppendAndSync(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, Options{Deferred: true, SegmentBytes: 256})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if _, err := j.Append([]byte(fmt.Sprintf("record %02d", i))); err != nil {
			t.Fatal(err)
		}
		if i%7 == 0 {
			if err := j.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j, err = Open(dir, Options{Deferred: true, SegmentBytes: 256})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	var got []string
	j.Scan(0, func(seq uint64, rec []byte) error { got = append(got, string(rec)); return nil })
	if len(got) != 50 || got[49] != "record 49" || j.Stats().Segments < 2 {
		t.Fatalf("after a reopen: %d records (last %q), %d segments", len(got), got[len(got)-1], j.Stats().Segments)
	}
	if err := j.Sync(); err != nil {
		t.Fatalf("Sync with nothing to do: %v", err)
	}
}
