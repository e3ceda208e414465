package atomicfile

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
)

// WriteFile replaces path with data atomically. If the file already holds
// exactly data, nothing is written (flash wears out) and changed is false.
func WriteFile(path string, data []byte, perm os.FileMode) (changed bool, err error) {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		// Same content: no write (flash wears out), but the mode is still
		// made right: a secret in a file others can read is not "unchanged".
		if info, err := os.Stat(path); err == nil && info.Mode().Perm() != perm {
			if err := os.Chmod(path, perm); err != nil {
				return false, fmt.Errorf("atomicfile: chmod %s: %w", path, err)
			}
		}
		return false, nil
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return false, fmt.Errorf("atomicfile: create temp for %s: %w", path, err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return false, fmt.Errorf("atomicfile: write %s: %w", path, err)
	}
	if err := f.Chmod(perm); err != nil {
		return false, fmt.Errorf("atomicfile: chmod %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return false, fmt.Errorf("atomicfile: fsync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return false, fmt.Errorf("atomicfile: close %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return false, fmt.Errorf("atomicfile: rename %s: %w", path, err)
	}
	ok = true
	d, err := os.Open(dir)
	if err != nil {
		return true, fmt.Errorf("atomicfile: open dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return true, fmt.Errorf("atomicfile: fsync dir %s: %w", dir, err)
	}
	return true, nil
}
