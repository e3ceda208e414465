package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ReadTransitions reads every transition recorded in dir, across restarts,
// in order. A missing file means none. A last line without its newline is
// still being written and is left out.
func ReadTransitions(dir string) ([]Transition, error) {
	var out []Transition
	err := readJSONLines(filepath.Join(dir, transitionsFile), func(line []byte) error {
		var t Transition
		if err := json.Unmarshal(line, &t); err != nil {
			return err
		}
		out = append(out, t)
		return nil
	})
	return out, err
}

// ReadLevels returns the logical level (true: relay energised) of every
// output pin latched in dir. Pins never driven are absent.
func ReadLevels(dir string) (map[string]bool, error) {
	doc, err := readLevels(dir)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(doc.Pins))
	for pin, l := range doc.Pins {
		out[pin] = l.On
	}
	return out, nil
}

// ReadReboots returns how many reboots were requested in dir, across
// restarts.
func ReadReboots(dir string) (int, error) {
	n := 0
	err := readJSONLines(filepath.Join(dir, rebootsFile), func([]byte) error { n++; return nil })
	return n, err
}

func readLevels(dir string) (levelsDoc, error) {
	path := filepath.Join(dir, levelsFile)
	doc := levelsDoc{Version: levelsVersion, Pins: map[string]latch{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return doc, nil
	}
	if err != nil {
		return doc, fmt.Errorf("sim: %w", err)
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return doc, fmt.Errorf("sim: %s: %w", path, err)
	}
	if doc.Version != levelsVersion {
		return doc, fmt.Errorf("sim: %s is version %d, this build reads version %d", path, doc.Version, levelsVersion)
	}
	if doc.Pins == nil {
		doc.Pins = map[string]latch{}
	}
	for pin, l := range doc.Pins {
		if l.Level != 0 && l.Level != 1 {
			return doc, fmt.Errorf("sim: %s: pin %s has level %d, want 0 or 1", path, pin, l.Level)
		}
	}
	return doc, nil
}

func readJSONLines(path string, each func([]byte) error) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	if i := bytes.LastIndexByte(data, '\n'); i < len(data)-1 {
		data = data[:i+1] // torn last line
	}
	for n, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if err := each(line); err != nil {
			return fmt.Errorf("sim: %s line %d: %w", path, n+1, err)
		}
	}
	return nil
}

// appendJSONLine appends v as one line. The line goes out in a single write
// on an O_APPEND file, so a reader never sees two records interleaved. No
// fsync: these are records for observers, not state.
func appendJSONLine(path string, v any) error {
	line, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("sim: encode %s record: %w", filepath.Base(path), err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	_, werr := f.Write(append(line, '\n'))
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		return fmt.Errorf("sim: append to %s: %w", path, err)
	}
	return nil
}
