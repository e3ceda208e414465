package journal

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// rec is a record as Scan returns it.
type rec struct {
	seq  uint64
	data string
}

func openT(t testing.TB, dir string, o Options) *Journal {
	t.Helper()
	j, err := Open(dir, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

func scanAll(t testing.TB, j *Journal, from uint64) []rec {
	t.Helper()
	var out []rec
	if err := j.Scan(from, func(seq uint64, r []byte) error {
		out = append(out, rec{seq, string(r)})
		return nil
	}); err != nil {
		t.Fatalf("Scan(%d): %v", from, err)
	}
	return out
}

func appendT(t testing.TB, j *Journal, recs ...string) uint64 {
	t.Helper()
	bs := make([][]byte, len(recs))
	for i, r := range recs {
		bs[i] = []byte(r)
	}
	first, err := j.Append(bs...)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return first
}

// payload makes a recognisable record of a length that varies with i.
func payload(i int) string {
	s := fmt.Sprintf("record %d;", i)
	return s + string(bytes.Repeat([]byte{'a' + byte(i%26)}, i*7%90))
}

// segFiles lists the segment files of dir, oldest first.
func segFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(m)
	return m
}

// wantRecs fails unless got is exactly want.
func wantRecs(t testing.TB, got, want []rec) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	t.Errorf("scan returned %d records, want %d", len(got), len(want))
	for i := range max(len(got), len(want)) {
		var g, w rec
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			t.Fatalf("first difference at %d: got %d %q, want %d %q", i, g.seq, g.data, w.seq, w.data)
		}
	}
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// memDir is a directory in memory when the machine has a tmpfs, for tests
// that check what the journal makes of bytes or of a killed process rather
// than what the disk keeps: a SIGKILL loses nothing an fsync would have
// saved, and hundreds of fsyncs on a shared disk would only make them slow.
// The tests of appending, rotating and reopening use the real disk.
func memDir(t testing.TB) string {
	t.Helper()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "journal-test-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	return t.TempDir()
}
