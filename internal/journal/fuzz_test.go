package journal

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// FuzzOpen gives Open arbitrary bytes as an older segment (first seq 1) and
// as the newest one (first seq 1000). Whatever they hold, Open must not
// panic or fail, Scan must return increasing seqs, appending must work, and
// a second Open must find the same records plus the appended one.
func FuzzOpen(f *testing.F) {
	seg := func(first uint64, recs ...string) []byte {
		b := appendHeader(nil, first)
		for i, r := range recs {
			b = appendRecord(b, first+uint64(i), []byte(r))
		}
		return b
	}
	good := seg(1, "alpha", "", "gamma")
	newest := seg(1000, "x", "yy")
	flip := func(b []byte, i int) []byte {
		b = append([]byte(nil), b...)
		b[i%len(b)] ^= 0x80
		return b
	}
	f.Add(good, newest)
	f.Add(good, []byte(nil))
	f.Add([]byte(nil), newest)
	f.Add(good[:len(good)-2], newest[:len(newest)-1])
	f.Add(flip(good, 25), flip(newest, 3))
	f.Add(seg(1, "a", "b", "c", "d", "e"), seg(1000))
	f.Add(seg(2, "wrong first"), append(newest, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0))
	f.Add(append(good, make([]byte, 300)...), newest[:headerSize-1])
	f.Fuzz(func(t *testing.T, older, newer []byte) {
		dir := memDir(t)
		if older != nil {
			os.WriteFile(filepath.Join(dir, segName(1)), older, 0o600)
		}
		if newer != nil {
			os.WriteFile(filepath.Join(dir, segName(1000)), newer, 0o600)
		}
		o := Options{SegmentBytes: 256, MaxBytes: 1 << 20}
		j, err := Open(dir, o)
		if err != nil {
			t.Fatalf("Open failed on content: %v", err)
		}
		got := scanAll(t, j, 0)
		for i := 1; i < len(got); i++ {
			if got[i].seq <= got[i-1].seq {
				t.Fatalf("seq %d after %d", got[i].seq, got[i-1].seq)
			}
		}
		st := j.Stats()
		if st.Records != uint64(len(got)) {
			t.Fatalf("Stats says %d records, Scan gave %d", st.Records, len(got))
		}
		first, err := j.Append([]byte("appended"))
		if err != nil {
			t.Fatalf("Append after Open: %v", err)
		}
		if len(got) > 0 && first <= got[len(got)-1].seq {
			t.Fatalf("Append got seq %d, not above the held %d", first, got[len(got)-1].seq)
		}
		j.Close()
		j, err = Open(dir, o)
		if err != nil {
			t.Fatalf("second Open: %v", err)
		}
		defer j.Close()
		want := append(got, rec{first, "appended"})
		again := scanAll(t, j, 0)
		if fmt.Sprint(again) != fmt.Sprint(want) {
			t.Fatalf("second Open holds %v, want %v", again, want)
		}
	})
}
