package journal

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// template builds a journal in a directory and returns what it holds.
func template(t *testing.T, o Options, batches [][]string) (dir string, want []rec) {
	t.Helper()
	dir = memDir(t)
	j := openT(t, dir, o)
	for _, b := range batches {
		first := appendT(t, j, b...)
		for i, r := range b {
			want = append(want, rec{first + uint64(i), r})
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, want
}

// cloneDir copies the segment files of src into a new directory.
func cloneDir(t *testing.T, src string) string {
	t.Helper()
	dst := memDir(t)
	for _, f := range segFiles(t, src) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(f)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// checkUsable appends after recovery and reopens: the journal must go on
// working, keep what it had, and report nothing new the second time.
func checkUsable(t *testing.T, dir string, o Options, have []rec) {
	t.Helper()
	j := openT(t, dir, o)
	st := j.Stats()
	for _, r := range have {
		if r.seq >= st.Next {
			t.Fatalf("Next = %d but record %d is held: a seq would be reused", st.Next, r.seq)
		}
	}
	first := appendT(t, j, "after recovery")
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j = openT(t, dir, o)
	want := append(append([]rec(nil), have...), rec{first, "after recovery"})
	wantRecs(t, scanAll(t, j, 0), want)
	if st2 := j.Stats(); st2.TornBytes != 0 || st2.SkippedSeqs != 0 {
		t.Fatalf("second open dropped again: %+v", st2)
	}
}

// TestTornTailAtEveryOffset cuts the newest segment at every byte of its
// last batch, as a power cut during the write would.
func TestTornTailAtEveryOffset(t *testing.T) {
	o := Options{SegmentBytes: 1024, MaxBytes: 64 << 10}
	last := []string{"one of the last batch", "", "the third and last record of the batch"}
	src, want := template(t, o, [][]string{{payload(1), payload(2)}, {payload(3)}, last})
	segs := segFiles(t, src)
	full := fileSize(t, segs[len(segs)-1])
	var batchLen int64
	for _, r := range last {
		batchLen += recordSize(len(r))
	}
	kept := len(want) - len(last)
	for cut := int64(0); cut <= batchLen; cut++ {
		t.Run(fmt.Sprintf("keep %d of %d bytes", cut, batchLen), func(t *testing.T) {
			dir := cloneDir(t, src)
			newest := segFiles(t, dir)[len(segs)-1]
			if err := os.Truncate(newest, full-batchLen+cut); err != nil {
				t.Fatal(err)
			}
			// The records of the batch wholly on disk survive, the rest goes.
			have := append([]rec(nil), want[:kept]...)
			torn := cut
			for i, r := range last {
				n := recordSize(len(r))
				if n > torn {
					break
				}
				torn -= n
				have = append(have, want[kept+i])
			}

			j := openT(t, dir, o)
			wantRecs(t, scanAll(t, j, 0), have)
			st := j.Stats()
			if st.TornBytes != torn || st.CorruptSegments != 0 || st.Damaged() != (torn > 0) {
				t.Fatalf("stats %+v, want TornBytes %d and nothing else dropped", st, torn)
			}
			if torn > 0 && fileSize(t, newest) != full-batchLen+cut-torn {
				t.Fatalf("torn tail left in place: %d bytes", fileSize(t, newest))
			}
			j.Close()
			checkUsable(t, dir, o, have)
		})
	}
}

// TestDamagedTail flips every byte of the newest record, or adds what a
// file system may leave after a crash: the record must be dropped, never
// delivered altered.
func TestDamagedTail(t *testing.T) {
	o := Options{SegmentBytes: 1024, MaxBytes: 64 << 10}
	src, want := template(t, o, [][]string{{payload(1)}, {payload(2)}, {"the newest record"}})
	newestName := filepath.Base(segFiles(t, src)[0])
	size := fileSize(t, filepath.Join(src, newestName))
	recLen := recordSize(len("the newest record"))
	for off := size - recLen; off < size; off++ {
		t.Run(fmt.Sprintf("flip at %d", off), func(t *testing.T) {
			dir := cloneDir(t, src)
			path := filepath.Join(dir, newestName)
			b, _ := os.ReadFile(path)
			b[off] ^= 0x40
			os.WriteFile(path, b, 0o600)
			j := openT(t, dir, o)
			wantRecs(t, scanAll(t, j, 0), want[:2])
			if st := j.Stats(); !st.Damaged() || st.Next <= want[2].seq {
				t.Fatalf("stats %+v: damage not reported or seq %d reusable", st, want[2].seq)
			}
			j.Close()
			checkUsable(t, dir, o, want[:2])
		})
	}
	for _, tail := range []struct {
		name string
		b    []byte
	}{
		{"zeros", make([]byte, 4096)},
		{"a record header of zeros", make([]byte, recHeaderSize)},
		{"garbage", bytes.Repeat([]byte{0xa5, 0x11, 0x3c}, 100)},
		{"a stale record", appendRecord(nil, want[1].seq, []byte(payload(2)))},
	} {
		t.Run(tail.name, func(t *testing.T) {
			dir := cloneDir(t, src)
			f, err := os.OpenFile(filepath.Join(dir, newestName), os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write(tail.b)
			f.Close()
			j := openT(t, dir, o)
			wantRecs(t, scanAll(t, j, 0), want)
			if st := j.Stats(); st.TornBytes != int64(len(tail.b)) {
				t.Fatalf("TornBytes = %d, want %d", st.TornBytes, len(tail.b))
			}
			j.Close()
			checkUsable(t, dir, o, want)
		})
	}
}

// TestCorruptionInOlderSegment flips every byte of a segment in the middle:
// the records before the damage in it, and every other segment, are read;
// nothing is repaired in place; Open never fails.
func TestCorruptionInOlderSegment(t *testing.T) {
	o := Options{SegmentBytes: 200, MaxBytes: 64 << 10}
	var batches [][]string
	for i := range 20 {
		batches = append(batches, []string{fmt.Sprintf("record %02d with some text", i)})
	}
	src, want := template(t, o, batches)
	segs := segFiles(t, src)
	if len(segs) < 4 {
		t.Fatalf("%d segments, want several", len(segs))
	}
	victim := filepath.Base(segs[1])
	vFirst, _ := parseSegName(victim)
	nextFirst, _ := parseSegName(filepath.Base(segs[2]))
	orig, _ := os.ReadFile(segs[1])
	recLen := recordSize(len(want[0].data))
	for off := range int64(len(orig)) {
		t.Run(fmt.Sprintf("flip at %d", off), func(t *testing.T) {
			dir := cloneDir(t, src)
			path := filepath.Join(dir, victim)
			b := bytes.Clone(orig)
			b[off] ^= 0x01
			os.WriteFile(path, b, 0o600)

			var have []rec
			lost := vFirst + (uint64(off)-headerSize)/uint64(recLen) // the damaged record
			for _, r := range want {
				if off < headerSize || r.seq < lost || r.seq >= nextFirst {
					have = append(have, r)
				}
			}
			j := openT(t, dir, o)
			wantRecs(t, scanAll(t, j, 0), have)
			st := j.Stats()
			if off < headerSize {
				if st.DamagedHeaders != 1 || st.CorruptSegments != 0 {
					t.Fatalf("stats %+v, want one damaged header, its records still read", st)
				}
			} else if st.CorruptSegments != 1 || st.CorruptBytes != int64(nextFirst-lost)*recLen || st.TornBytes != 0 {
				t.Fatalf("stats %+v, want one corrupt segment with %d bytes unread", st, int64(nextFirst-lost)*recLen)
			}
			if got, _ := os.ReadFile(path); !bytes.Equal(got, b) {
				t.Fatal("the damaged segment was modified")
			}
			if st.Next != want[len(want)-1].seq+1 {
				t.Fatalf("Next = %d, want %d: damage in an older segment costs no seq", st.Next, want[len(want)-1].seq+1)
			}
			j.Close()
			checkUsable(t, dir, o, have)
		})
	}
}

func TestOpenOddDirectories(t *testing.T) {
	o := Options{SegmentBytes: 200, MaxBytes: 64 << 10}
	seg := func(first uint64, recs ...string) []byte {
		b := appendHeader(nil, first)
		for i, r := range recs {
			b = appendRecord(b, first+uint64(i), []byte(r))
		}
		return b
	}
	tests := []struct {
		name     string
		files    map[string][]byte
		want     []rec
		minNext  uint64
		damaged  bool
		leftover []string // files that must still be there
		gone     []string // files that must have been removed
	}{
		{
			name: "empty directory",
			want: nil, minNext: 1,
		},
		{
			name:    "a segment that does not start at 1",
			files:   map[string][]byte{segName(500): seg(500, "a", "b")},
			want:    []rec{{500, "a"}, {501, "b"}},
			minNext: 502,
		},
		{
			name: "gap between segments",
			files: map[string][]byte{
				segName(1):  seg(1, "a"),
				segName(10): seg(10, "b"),
			},
			want:    []rec{{1, "a"}, {10, "b"}},
			minNext: 11,
		},
		{
			name: "older segment overlapping the next",
			files: map[string][]byte{
				segName(1): seg(1, "a", "b", "c"),
				segName(3): seg(3, "C", "d"),
			},
			want:    []rec{{1, "a"}, {2, "b"}, {3, "C"}, {4, "d"}},
			minNext: 5, damaged: true,
		},
		{
			name: "leftover temporary segment",
			files: map[string][]byte{
				segName(1):             seg(1, "a"),
				tmpPrefix + segName(2): seg(2)[:7],
			},
			want: []rec{{1, "a"}}, minNext: 2,
			gone: []string{tmpPrefix + segName(2)},
		},
		{
			name: "stray files",
			files: map[string][]byte{
				"notes.txt":                  []byte("hello"),
				"00000000000000000002.jnl~":  []byte("x"),
				segName(1):                   seg(1, "a"),
				"0000000000000000000000.jnl": []byte("too many digits"),
			},
			want: []rec{{1, "a"}}, minNext: 2,
			leftover: []string{"notes.txt", "00000000000000000002.jnl~"},
		},
		{
			name:    "newest segment with a damaged header",
			files:   map[string][]byte{segName(7): append([]byte("XXXX"), seg(7, "a", "b")[4:]...)},
			want:    []rec{{7, "a"}, {8, "b"}},
			minNext: 9, damaged: true,
		},
		{
			name:    "newest segment shorter than a header",
			files:   map[string][]byte{segName(7): seg(7)[:5]},
			minNext: 8, damaged: true,
		},
		{
			name:    "empty segment file",
			files:   map[string][]byte{segName(7): nil},
			minNext: 8, damaged: true,
		},
		{
			name: "segment of a future format",
			files: map[string][]byte{
				segName(1): func() []byte {
					b := seg(1, "a")
					b[4] = 9
					return b
				}(),
				segName(2): seg(2, "b"),
			},
			want:    []rec{{1, "a"}, {2, "b"}},
			minNext: 3, damaged: true,
		},
		{
			name:    "a seq near the top of the range",
			files:   map[string][]byte{segName(maxFirstSeq): seg(maxFirstSeq, "a")},
			want:    []rec{{maxFirstSeq, "a"}},
			minNext: maxFirstSeq + 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := memDir(t)
			for name, b := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			j := openT(t, dir, o)
			got := scanAll(t, j, 0)
			wantRecs(t, got, tt.want)
			st := j.Stats()
			if st.Next < tt.minNext || st.Damaged() != tt.damaged {
				t.Fatalf("stats %+v, want Next at least %d and damaged %v", st, tt.minNext, tt.damaged)
			}
			for _, name := range tt.leftover {
				if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
					t.Errorf("%s: %v, want it left alone", name, err)
				}
			}
			for _, name := range tt.gone {
				if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
					t.Errorf("%s still there", name)
				}
			}
			j.Close()
			checkUsable(t, dir, o, got)
		})
	}
}

// TestDamageFoundByScan is a record that goes bad after Open (a failing SD
// card): Scan skips the rest of its segment, counts it, and appending goes
// on in a new segment.
func TestDamageFoundByScan(t *testing.T) {
	o := Options{SegmentBytes: 200, MaxBytes: 64 << 10}
	for _, which := range []string{"older", "newest"} {
		t.Run(which, func(t *testing.T) {
			dir := t.TempDir()
			j := openT(t, dir, o)
			var want []rec
			for i := range 12 {
				s := fmt.Sprintf("record %02d with some text", i)
				want = append(want, rec{appendT(t, j, s), s})
			}
			segs := segFiles(t, dir)
			victim := segs[0]
			if which == "newest" {
				victim = segs[len(segs)-1]
			}
			vFirst, _ := parseSegName(filepath.Base(victim))
			b, _ := os.ReadFile(victim)
			b[headerSize+recHeaderSize] ^= 0x01 // the first record's payload
			os.WriteFile(victim, b, 0o600)

			// The victim's records are all lost: its first one is damaged.
			vEnd := uint64(1 << 62)
			if which == "older" {
				vEnd, _ = parseSegName(filepath.Base(segs[1]))
			}
			var have []rec
			for _, r := range want {
				if r.seq < vFirst || r.seq >= vEnd {
					have = append(have, r)
				}
			}
			wantRecs(t, scanAll(t, j, 0), have)
			wantRecs(t, scanAll(t, j, 0), have) // and again, without counting twice
			if st := j.Stats(); st.CorruptSegments != 1 {
				t.Fatalf("stats %+v, want one corrupt segment", st)
			}
			first := appendT(t, j, "after the damage")
			if first != want[len(want)-1].seq+1 {
				t.Fatalf("Append after damage got seq %d, want %d", first, want[len(want)-1].seq+1)
			}
			have = append(have, rec{first, "after the damage"})
			wantRecs(t, scanAll(t, j, 0), have)
			j.Close()
			j = openT(t, dir, o)
			wantRecs(t, scanAll(t, j, 0), have)
		})
	}
}
