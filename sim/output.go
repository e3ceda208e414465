package sim

import (
	"errors"
	"fmt"
	"path/filepath"
)

// output is one simulated relay line.
type output struct {
	h         *Hardware
	pin       string
	what      string // "zone z1" or "amp", for transitions
	activeLow bool
}

func (o *output) String() string {
	if o.activeLow {
		return o.pin + " (sim, active-low)"
	}
	return o.pin + " (sim)"
}

// Set drives the line. A transition is recorded only when the relay changes:
// a line that was not driven yet holds its relay released, so a first
// Set(false) drives the line without a transition.
func (o *output) Set(on bool) error { return o.h.set(o, on) }

// Halt releases the relay.
func (o *output) Halt() error { return o.h.set(o, false) }

func (o *output) level(on bool) int {
	if on != o.activeLow {
		return 1
	}
	return 0
}

func (h *Hardware) set(o *output, on bool) error {
	h.setMu.Lock()
	defer h.setMu.Unlock()

	h.mu.Lock()
	st := h.outputs[o.pin]
	if st.err != nil {
		h.mu.Unlock()
		return fmt.Errorf("sim: set %s %s: %w", o, onOff(on), st.err)
	}
	if st.driven && st.on == on {
		h.mu.Unlock()
		return nil
	}
	changed := st.on != on
	st.on, st.driven = on, true
	var errs []error
	var tr Transition
	if changed {
		tr = Transition{Time: h.clk.Now(), Pin: o.pin, Output: o.what, On: on, Level: o.level(on)}
		h.transitions = append(h.transitions, tr)
	}
	if h.dir != "" {
		// Like a real line, the level has changed even if recording it
		// fails; the error says the record is incomplete.
		h.latched[o.pin] = latch{On: on, Level: o.level(on), Output: o.what}
		errs = append(errs, h.saveLevels())
		if changed {
			errs = append(errs, appendJSONLine(filepath.Join(h.dir, transitionsFile), tr))
		}
	}
	observers := h.observers
	h.mu.Unlock()

	if changed {
		for _, fn := range observers {
			fn(tr)
		}
	}
	return errors.Join(errs...)
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}
