package modem

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden readings in testdata")

// TestTranscripts reads a modem whose port plays a recorded exchange of
// real answers, through the real client and parsers, and compares the
// reading with its golden file. The transcript also pins the commands sent
// and their order: a command the transcript does not expect, or one it
// expects that is not sent, fails the test.
func TestTranscripts(t *testing.T) {
	paths, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	for _, path := range paths {
		name := strings.TrimSuffix(filepath.Base(path), ".txt")
		t.Run(name, func(t *testing.T) {
			pb := newPlayback(t, name, loadTranscript(t, path))
			m := newTestModem(t, pb)
			r, err := m.Read(context.Background())
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if err := pb.leftovers(); err != nil {
				t.Error(err)
			}
			got, err := json.MarshalIndent(r, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join("testdata", name+".json")
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
				t.Errorf("reading differs from %s:\n got: %s\nwant: %s", golden, got, want)
			}
		})
	}
}

// newTestModem returns a Modem whose port is p (its configured path is a
// file that exists, so that the port looks present).
func newTestModem(t *testing.T, ports ...io.ReadWriteCloser) *Modem {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ttyUSB2")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	next := 0
	m, err := New(Config{
		Port:           path,
		CommandTimeout: 5 * time.Second,
		Open: func(string, int) (io.ReadWriteCloser, error) {
			if next >= len(ports) {
				t.Errorf("port opened %d times, the test gave %d", next+1, len(ports))
				return nil, os.ErrNotExist
			}
			next++
			return ports[next-1], nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Halt() })
	return m
}
