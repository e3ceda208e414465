package journal

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"flag"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestSegName(t *testing.T) {
	tests := []struct {
		name  string
		first uint64
		ok    bool
	}{
		{"00000000000000000001.jnl", 1, true},
		{"00000000000000001000.jnl", 1000, true},
		{"04611686018427387904.jnl", 1 << 62, true},
		{"04611686018427387905.jnl", 0, false}, // would let seqs wrap around
		{"18446744073709551615.jnl", 0, false},
		{"0000000000000000001.jnl", 0, false}, // 19 digits
		{"00000000000000000001.seg", 0, false},
		{"0000000000000000000x.jnl", 0, false},
		{".tmp-00000000000000000001.jnl", 0, false},
		{"notes.txt", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first, ok := parseSegName(tt.name)
			if ok != tt.ok || (ok && first != tt.first) {
				t.Fatalf("parseSegName = %d, %v; want %d, %v", first, ok, tt.first, tt.ok)
			}
			if ok && segName(first) != tt.name {
				t.Fatalf("segName(%d) = %q, want %q", first, segName(first), tt.name)
			}
		})
	}
}

func TestHeaderProblem(t *testing.T) {
	good := appendHeader(nil, 42)
	withCRC := func(b []byte) []byte {
		binary.LittleEndian.PutUint32(b[16:], crc32.Checksum(b[:16], castagnoli))
		return b
	}
	tests := []struct {
		name string
		h    []byte
		want string // a part of the problem, "" for none
	}{
		{"sound", good, ""},
		{"short", good[:19], "19 bytes"},
		{"empty", nil, "0 bytes"},
		{"bad magic", withCRC(append([]byte("XXXX"), good[4:]...)), "magic"},
		{"bit flip", func() []byte { b := bytes.Clone(good); b[9] ^= 1; return b }(), "checksum"},
		{"future version", func() []byte { b := bytes.Clone(good); b[4] = 2; return withCRC(b) }(), "format version 2"},
		{"other first seq", appendHeader(nil, 43), "first seq 43"},
		{"zeros", make([]byte, headerSize), "magic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := headerProblem(tt.h, 42)
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Fatalf("headerProblem = %q, want one containing %q", got, tt.want)
			}
		})
	}
}

// readRecs decodes the records of a segment body (header included) that
// should start at seq first.
func readRecs(b []byte, first uint64) (recs []string, problem string) {
	rr := recReader{r: bufio.NewReader(bytes.NewReader(b[headerSize:])), off: headerSize, limit: int64(len(b))}
	for seq := first; ; seq++ {
		p, problem := rr.next(seq)
		if p == nil {
			return recs, problem
		}
		recs = append(recs, string(p))
	}
}

func TestRecordFormat(t *testing.T) {
	seg := func(first uint64, recs ...string) []byte {
		b := appendHeader(nil, first)
		for i, r := range recs {
			b = appendRecord(b, first+uint64(i), []byte(r))
		}
		return b
	}
	big := strings.Repeat("x", DefaultMaxRecord)
	tests := []struct {
		name    string
		b       []byte
		first   uint64 // the seq the reader expects
		want    []string
		problem string
	}{
		{"empty segment", seg(1), 1, nil, ""},
		{"records", seg(7, "a", "", "ccc", big), 7, []string{"a", "", "ccc", big}, ""},
		{"read at another seq", seg(7, "a"), 8, nil, "checksum mismatch for seq 8"},
		{"zeros after the header", append(seg(1), make([]byte, 64)...), 1, nil, "checksum mismatch"},
		{"cut payload", seg(1, "abc", "defgh")[:headerSize+11+8+2], 1, []string{"abc"}, "cut short"},
		{"cut header", seg(1, "abc", "defgh")[:headerSize+11+5], 1, []string{"abc"}, "stray bytes"},
		{"length past the limit", append(seg(1, "ok"), 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0), 1, []string{"ok"}, "above the format's limit"},
		{"flipped payload bit", func() []byte { b := seg(1, "abc", "def"); b[len(b)-1] ^= 0x10; return b }(), 1, []string{"abc"}, "checksum"},
		{"flipped length bit", func() []byte { b := seg(1, "abc", "def"); b[headerSize] ^= 1; return b }(), 1, nil, "checksum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, problem := readRecs(tt.b, tt.first)
			if len(got) != len(tt.want) {
				t.Fatalf("read %d records, want %d (problem %q)", len(got), len(tt.want), problem)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("record %d differs", i)
				}
			}
			if !strings.Contains(problem, tt.problem) || (tt.problem == "") != (problem == "") {
				t.Fatalf("problem %q, want one containing %q", problem, tt.problem)
			}
		})
	}
}

// TestGoldenSegment pins format version 1: what this build writes is byte
// for byte testdata/v1.jnl, and that file reads back. A change here breaks
// every journal already on a pole.
func TestGoldenSegment(t *testing.T) {
	recs := []string{"alpha", "", "Cảnh báo bão số 3", strings.Repeat("z", 300)}
	dir := t.TempDir()
	j := openT(t, dir, Options{})
	appendT(t, j, recs[:2]...)
	appendT(t, j, recs[2:]...)
	j.Close()
	got, err := os.ReadFile(filepath.Join(dir, segName(1)))
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "v1.jnl")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("segment is %d bytes and differs from %s (%d bytes): the on-disk format changed", len(got), golden, len(want))
	}

	dir2 := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir2, segName(1)), want, 0o600); err != nil {
		t.Fatal(err)
	}
	j2 := openT(t, dir2, Options{})
	var wantRecsList []rec
	for i, r := range recs {
		wantRecsList = append(wantRecsList, rec{uint64(i + 1), r})
	}
	wantRecs(t, scanAll(t, j2, 0), wantRecsList)
	if st := j2.Stats(); st.Damaged() || st.Next != 5 {
		t.Fatalf("stats %+v, want nothing dropped and Next 5", st)
	}
}
