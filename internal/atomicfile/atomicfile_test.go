package atomicfile_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loaxa/loaxa/internal/atomicfile"
)

// entries lists the names in dir, so a test can see leftover temp files.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

// onlyEntry fails unless dir holds exactly name.
func onlyEntry(t *testing.T, dir, name string) {
	t.Helper()
	if got := entries(t, dir); len(got) != 1 || got[0] != name {
		t.Errorf("directory holds %q, want only %q (no temp file left behind)", got, name)
	}
}

// identity is what a rewrite changes: the inode, and the modification time.
type identity struct {
	ino   uint64
	mtime time.Time
}

func identify(t *testing.T, path string) identity {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		t.Skip("no inode numbers on this platform")
	}
	return identity{ino: st.Ino, mtime: fi.ModTime()}
}

// backdate sets path's mtime to a fixed old time, so a rewrite is seen
// whatever the file system's timestamp resolution.
func backdate(t *testing.T, path string) {
	t.Helper()
	old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
}

func TestWriteFileCreatesWithContentAndPerm(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		perm os.FileMode
	}{
		{"secret config", []byte("[auth]\ncommand_key = \"00ff\"\n"), 0o600},
		{"state", []byte(`{"version":1,"zones":{"z1":true}}`), 0o644},
		{"group readable", []byte("x"), 0o640},
		{"empty file", []byte{}, 0o644},
		{"large file", bytes.Repeat([]byte("loaxa "), 200000), 0o644},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "f")
			changed, err := atomicfile.WriteFile(path, tt.data, tt.perm)
			if err != nil || !changed {
				t.Fatalf("WriteFile = %v, %v; want true, nil", changed, err)
			}
			got, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(got, tt.data) {
				t.Fatalf("file holds %d bytes (%v), want the %d written", len(got), err, len(tt.data))
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			// The perm is exact, whatever the process umask.
			if fi.Mode().Perm() != tt.perm {
				t.Errorf("mode = %v, want %v", fi.Mode().Perm(), tt.perm)
			}
			onlyEntry(t, dir, "f")
		})
	}
}

func TestWriteFileReplacesChangedContent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	if _, err := atomicfile.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	backdate(t, path)
	before := identify(t, path)

	changed, err := atomicfile.WriteFile(path, []byte("new, and longer than old"), 0o600)
	if err != nil || !changed {
		t.Fatalf("WriteFile = %v, %v; want true, nil", changed, err)
	}
	if got, _ := os.ReadFile(path); string(got) != "new, and longer than old" {
		t.Fatalf("file holds %q", got)
	}
	// A new inode shows the content arrived by rename, not by writing in
	// place (which a power cut could tear).
	if after := identify(t, path); after.ino == before.ino {
		t.Error("the file was rewritten in place (same inode), not replaced")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want the new perm 0600", fi.Mode().Perm())
	}
	onlyEntry(t, dir, "state.json")
}

func TestWriteFileSkipsUnchangedContent(t *testing.T) {
	tests := []struct {
		name string
		data []byte
	}{
		{"some content", []byte("version = 1\n")},
		{"empty content", []byte{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "loaxa.toml")
			if _, err := atomicfile.WriteFile(path, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			backdate(t, path)
			before := identify(t, path)

			// Flash wears out: the same bytes again write nothing.
			changed, err := atomicfile.WriteFile(path, tt.data, 0o600)
			if err != nil || changed {
				t.Fatalf("WriteFile of the same content = %v, %v; want false, nil", changed, err)
			}
			if after := identify(t, path); after != before {
				t.Errorf("unchanged file was rewritten: inode %d→%d, mtime %v→%v", before.ino, after.ino, before.mtime, after.mtime)
			}
			onlyEntry(t, dir, "loaxa.toml")
		})
	}
}

func TestWriteFileFailureLeavesNoTraceAndKeepsTheOld(t *testing.T) {
	tests := []struct {
		name string
		// setup prepares dir and returns the path to write; what it
		// leaves in dir must be there, unchanged, after the failure.
		setup func(t *testing.T, dir string) string
		// rootOK is false for failures that root bypasses.
		rootOK bool
	}{
		{"directory does not exist", func(t *testing.T, dir string) string {
			return filepath.Join(dir, "missing", "state.json")
		}, true},
		{"parent is a file", func(t *testing.T, dir string) string {
			if err := os.WriteFile(filepath.Join(dir, "notadir"), []byte("keep me"), 0o644); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(dir, "notadir", "state.json")
		}, true},
		{"target is a directory", func(t *testing.T, dir string) string {
			target := filepath.Join(dir, "state.json")
			if err := os.Mkdir(target, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(target, "inside"), []byte("keep me"), 0o644); err != nil {
				t.Fatal(err)
			}
			return target
		}, true},
		{"no room for the temp name", func(t *testing.T, dir string) string {
			// A 250-byte name is legal, but the temp file's name (the
			// same plus a dot and a suffix) passes the 255-byte limit: a
			// failure even root meets, with an old file in place.
			target := filepath.Join(dir, strings.Repeat("s", 250))
			if err := os.WriteFile(target, []byte("old state"), 0o644); err != nil {
				t.Fatal(err)
			}
			return target
		}, true},
		{"directory is read-only", func(t *testing.T, dir string) string {
			target := filepath.Join(dir, "state.json")
			if err := os.WriteFile(target, []byte("old state"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, 0o555); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chmod(dir, 0o755) })
			return target
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.rootOK && os.Geteuid() == 0 {
				t.Skip("root writes into read-only directories")
			}
			dir := t.TempDir()
			path := tt.setup(t, dir)
			before := snapshot(t, dir)

			changed, err := atomicfile.WriteFile(path, []byte("new state"), 0o644)
			if err == nil {
				t.Fatal("WriteFile succeeded, want an error")
			}
			if changed {
				t.Error("changed = true on failure")
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file %s", err, path)
			}
			if after := snapshot(t, dir); after != before {
				t.Errorf("directory changed by a failed write:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// snapshot describes every file under dir, with its content, so a test can
// tell that nothing was added, removed or altered.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b.WriteString(rel)
		if !d.IsDir() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b.WriteString("=" + string(data))
		}
		b.WriteString("; ")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
