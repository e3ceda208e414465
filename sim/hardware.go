package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/loaxa/loaxa/hal"
	"github.com/loaxa/loaxa/internal/atomicfile"
	"github.com/loaxa/loaxa/internal/clock"
	"github.com/loaxa/loaxa/sim/internal/watch"
)

// Names of the files in the simulation directory.
const (
	levelsFile      = "gpio.json"
	transitionsFile = "transitions.jsonl"
	inputsDir       = "inputs"
	tempFile        = "temp"
	rebootsFile     = "reboots.jsonl"
)

// levelsVersion is the version of the gpio.json document.
const levelsVersion = 1

// defaultTemp is the CPU temperature before SetTemp, in °C.
const defaultTemp = 45.0

// Transition is one change of a relay: a simulated output going from
// released to energised or back.
type Transition struct {
	Time time.Time `json:"time"`
	// Pin is the line, e.g. "GPIO17".
	Pin string `json:"pin"`
	// Output says what the line feeds: "zone z1" or "amp".
	Output string `json:"output"`
	// On is the new logical level: true when the relay is energised.
	On bool `json:"on"`
	// Level is the new electrical level, 0 or 1, after polarity.
	Level int `json:"level"`
}

// Hardware is one simulated pole. Its methods are safe for concurrent use.
type Hardware struct {
	dir string
	clk clock.Clock
	hw  *hal.Hardware
	// inputs never changes after NewHardware.
	inputs map[string]*input

	// inputMu guards inputWatch and inputCache.
	inputMu sync.Mutex
	// inputWatch follows DIR/inputs, so that reading an input costs a
	// file read only after someone changed its file: the agent polls
	// every input five times a second, which on a pole is a register
	// read (nil: no directory, or no inotify, and every read reads).
	inputWatch *watch.Poller
	inputCache map[string]bool // levels read since the last change; errors are not kept

	// setMu serialises output changes, so that transitions, the files and
	// the OnTransition callbacks all see them in the same order.
	setMu sync.Mutex

	mu          sync.Mutex           // guards the fields below
	outputs     map[string]*pinState // by pin name
	latched     map[string]latch     // gpio.json, including pins of other layouts
	transitions []Transition
	observers   []func(Transition)
	inputVals   map[string]bool // used when dir is ""
	temp        float64
	reboots     int
}

type pinState struct {
	on, driven bool
	err        error // injected by SetOutputError
}

// latch is one pin in gpio.json.
type latch struct {
	On     bool   `json:"on"`
	Level  int    `json:"level"`
	Output string `json:"output,omitempty"`
}

type levelsDoc struct {
	Version int              `json:"version"`
	Pins    map[string]latch `json:"pins"`
}

// NewHardware builds simulated parts for layout l. dir (e.g. DATA_DIR/sim)
// holds files that make the simulated hardware observable and controllable
// from outside the process; it is created if needed, and outputs start at
// the levels latched there by a previous run. dir may be "" for purely
// in-memory use (fleet). clk stamps transitions; nil means the real clock.
func NewHardware(dir string, l hal.Layout, clk clock.Clock) (*Hardware, error) {
	if clk == nil {
		clk = clock.Real{}
	}
	if err := checkLayout(l); err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	h := &Hardware{
		dir:        dir,
		clk:        clk,
		inputs:     map[string]*input{},
		outputs:    map[string]*pinState{},
		latched:    map[string]latch{},
		inputVals:  map[string]bool{},
		inputCache: map[string]bool{},
		temp:       defaultTemp,
	}
	if dir != "" {
		if err := os.MkdirAll(filepath.Join(dir, inputsDir), 0o755); err != nil {
			return nil, fmt.Errorf("sim: %w", err)
		}
		doc, err := readLevels(dir)
		if err != nil {
			return nil, err
		}
		h.latched = doc.Pins
	}

	b := &board{h: h}
	h.hw = &hal.Hardware{
		Zones:  map[string][]hal.Output{},
		Inputs: map[string]hal.Input{},
		Board:  b,
		Clock:  b,
	}
	for zone, pcs := range l.Zones {
		for _, pc := range pcs {
			h.hw.Zones[zone] = append(h.hw.Zones[zone], h.newOutput(pc, "zone "+zone))
		}
	}
	h.hw.Amp = h.newOutput(l.Amp, "amp")
	for name, pc := range l.Inputs {
		in := &input{h: h, name: name, pin: pc.Pin, activeLow: pc.ActiveLow, pull: pc.Pull}
		h.inputs[name] = in
		h.hw.Inputs[name] = in
		h.inputVals[name] = defaultInput(name)
		if dir != "" {
			// Create the control file with its default, so a person looking
			// at the directory sees what can be flipped.
			if _, err := os.Stat(in.path()); errors.Is(err, fs.ErrNotExist) {
				if _, err := atomicfile.WriteFile(in.path(), encodeInput(defaultInput(name)), 0o644); err != nil {
					return nil, fmt.Errorf("sim: input %s: %w", name, err)
				}
			}
		}
	}
	if dir != "" && len(h.inputs) > 0 {
		// Without inotify every Read reads its file, as before.
		h.inputWatch, _ = watch.Poll(filepath.Join(dir, inputsDir), slices.Collect(maps.Keys(h.inputs))...)
	}
	return h, nil
}

// Close stops following the control files. The parts keep working (an
// input is then read from its file at every Read).
func (h *Hardware) Close() error {
	h.inputMu.Lock()
	w := h.inputWatch
	h.inputWatch = nil
	h.inputMu.Unlock()
	if w == nil {
		return nil
	}
	return w.Close()
}

// newOutput creates the output for pc, starting at its latched level.
func (h *Hardware) newOutput(pc hal.PinConfig, what string) *output {
	st := &pinState{}
	if l, ok := h.latched[pc.Pin]; ok {
		// The electrical level is what the line holds; the logical level
		// follows from the polarity configured now.
		st.driven = true
		st.on = (l.Level == 1) != pc.ActiveLow
	}
	h.outputs[pc.Pin] = st
	return &output{h: h, pin: pc.Pin, what: what, activeLow: pc.ActiveLow}
}

// HAL returns the simulated parts: zones, amplifier, inputs and board. Every
// call returns the same value.
func (h *Hardware) HAL() *hal.Hardware { return h.hw }

// Transitions returns every output transition since NewHardware, in order.
func (h *Hardware) Transitions() []Transition {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.transitions)
}

// OnTransition registers fn to be called synchronously inside Set (and
// Halt) for every transition, after it has been recorded. Callbacks run in
// transition order and may call any method except Set and Halt of the
// outputs, which would deadlock.
func (h *Hardware) OnTransition(fn func(Transition)) {
	if fn == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.observers = append(h.observers, fn)
}

// Level reports the logical level of output pin (true: relay energised) and
// whether the line is driven at all. A line is driven once an output has
// been Set, or when a previous run latched its level in the directory. A
// line that is not driven holds its relay released.
func (h *Hardware) Level(pin string) (on bool, driven bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if st, ok := h.outputs[pin]; ok {
		return st.on, st.driven
	}
	return false, false
}

// SetOutputError makes every later Set and Halt of output pin fail with err,
// leaving the line as it is, to simulate a relay driver that is present but
// broken. A nil err clears the fault.
func (h *Hardware) SetOutputError(pin string, err error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	st, ok := h.outputs[pin]
	if !ok {
		return fmt.Errorf("sim: no output on pin %q", pin)
	}
	st.err = err
	return nil
}

// checkLayout rejects layouts the simulator cannot represent faithfully: a
// pin used twice would share one latch, and an input name becomes a file
// name.
func checkLayout(l hal.Layout) error {
	var errs []error
	seen := map[string]string{}
	use := func(what string, pc hal.PinConfig) {
		switch {
		case pc.Pin == "":
			errs = append(errs, fmt.Errorf("%s: no pin given", what))
		case seen[pc.Pin] != "":
			errs = append(errs, fmt.Errorf("%s: pin %s is already used by %s", what, pc.Pin, seen[pc.Pin]))
		default:
			seen[pc.Pin] = what
		}
	}
	for _, zone := range slices.Sorted(maps.Keys(l.Zones)) {
		for i, pc := range l.Zones[zone] {
			use(fmt.Sprintf("zone %s[%d]", zone, i), pc)
		}
	}
	use("amp", l.Amp)
	for _, name := range slices.Sorted(maps.Keys(l.Inputs)) {
		pc := l.Inputs[name]
		if name == "" || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") {
			errs = append(errs, fmt.Errorf("input %q: an input name must be a plain file name", name))
		}
		if !slices.Contains([]string{"", "up", "down", "none"}, pc.Pull) {
			errs = append(errs, fmt.Errorf(`input %s: pull must be "up", "down", "none" or empty, got %q`, name, pc.Pull))
		}
		use("input "+name, pc)
	}
	return errors.Join(errs...)
}

// saveLevels writes gpio.json; h.mu is held.
func (h *Hardware) saveLevels() error {
	data, err := json.MarshalIndent(levelsDoc{Version: levelsVersion, Pins: h.latched}, "", "  ")
	if err != nil {
		return fmt.Errorf("sim: encode levels: %w", err)
	}
	if _, err := atomicfile.WriteFile(filepath.Join(h.dir, levelsFile), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("sim: latch levels: %w", err)
	}
	return nil
}
