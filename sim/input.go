package sim

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/loaxa/loaxa/internal/atomicfile"
)

// input is one simulated sense line. Its state is the logical one (true:
// asserted), so polarity does not apply: a person writing "1" into
// inputs/tamper means "the door is open".
type input struct {
	h         *Hardware
	name, pin string
	activeLow bool
	pull      string
}

func (i *input) String() string {
	s := i.pin + " (sim"
	if i.activeLow {
		s += ", active-low"
	}
	if i.pull != "" {
		s += ", pull-" + i.pull
	}
	return s + ")"
}

func (i *input) path() string { return filepath.Join(i.h.dir, inputsDir, i.name) }

// Read returns the input's state: from its control file when the hardware
// has a directory (a missing file means the default), from SetInput
// otherwise. The file is read again only after it changed.
func (i *input) Read() (bool, error) {
	h := i.h
	if h.dir == "" {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.inputVals[i.name], nil
	}
	h.inputMu.Lock()
	defer h.inputMu.Unlock()
	if h.inputWatch == nil {
		return i.readFile()
	}
	if h.inputWatch.Changed() {
		clear(h.inputCache)
	}
	if v, ok := h.inputCache[i.name]; ok {
		return v, nil
	}
	v, err := i.readFile()
	if err == nil {
		h.inputCache[i.name] = v
	}
	return v, err
}

// readFile reads the input's control file.
func (i *input) readFile() (bool, error) {
	data, err := os.ReadFile(i.path())
	if errors.Is(err, fs.ErrNotExist) {
		return defaultInput(i.name), nil
	}
	if err != nil {
		return false, fmt.Errorf("sim: input %s: %w", i.name, err)
	}
	switch s := strings.TrimSpace(string(data)); s {
	case "1", "true":
		return true, nil
	case "0", "false":
		return false, nil
	default:
		if len(s) > 40 {
			s = s[:40] + "..."
		}
		return false, fmt.Errorf("sim: input %s: control file %s holds %q, want 1 (asserted) or 0", i.name, i.path(), s)
	}
}

// Halt does nothing: an input has no safe state to return to.
func (i *input) Halt() error { return nil }

// SetInput sets input name (a key of the layout's Inputs) to asserted. With a
// directory it rewrites the control file atomically, as a person would with
// echo 1 > DIR/inputs/NAME.
func (h *Hardware) SetInput(name string, asserted bool) error {
	in, ok := h.inputs[name]
	if !ok {
		return fmt.Errorf("sim: no input %q in the layout (have %s)", name, strings.Join(slices.Sorted(maps.Keys(h.inputs)), ", "))
	}
	if h.dir == "" {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.inputVals[name] = asserted
		return nil
	}
	if _, err := atomicfile.WriteFile(in.path(), encodeInput(asserted), 0o644); err != nil {
		return fmt.Errorf("sim: set input %s: %w", name, err)
	}
	return nil
}

// defaultInput is an input's state when nothing says otherwise: a healthy
// pole, door closed, mains present.
func defaultInput(name string) bool { return name == "mains" }

func encodeInput(asserted bool) []byte {
	if asserted {
		return []byte("1\n")
	}
	return []byte("0\n")
}
