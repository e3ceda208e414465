package agent

import (
	"fmt"
	"maps"
	"time"

	"github.com/loaxa/loaxa/agent/wire"
)

// inputPoll is how often the sense inputs are read. Door and mains changes
// matter within a second, and a read is a cheap register or file access.
const inputPoll = 200 * time.Millisecond

// debounceReads is how many consecutive reads must agree before a change
// is believed (a door switch bounces; mains sense flickers on brown-outs).
const debounceReads = 2

// alarmOf maps an input and its level to the alarm it raises. Inputs not
// listed are only reported.
func alarmOf(name string, asserted bool) (alarm string, active bool, ok bool) {
	switch name {
	case "tamper":
		return "tamper", asserted, true
	case "mains":
		return "mains_lost", !asserted, true
	case "amp_fault":
		return "amp_fault", asserted, true
	}
	return "", false, false
}

// readInputs polls every input. At start (initial) levels are taken as they
// are; afterwards a change must persist for debounceReads polls.
func (a *Agent) readInputs(initial bool) {
	changed := false
	for name, in := range a.hw.Inputs {
		v, err := in.Read()
		if err != nil {
			a.raise("input_"+name, fmt.Sprintf("%s: %v", in, err))
			continue
		}
		a.clear("input_" + name)
		old, known := a.inputs[name]
		if known && v == old {
			a.debounce[name] = 0
			continue
		}
		if !initial && known {
			a.debounce[name]++
			if a.debounce[name] < debounceReads {
				continue
			}
		}
		a.debounce[name] = 0
		a.inputs[name] = v
		changed = true
		if alarm, active, ok := alarmOf(name, v); ok {
			if active {
				a.raise(alarm, fmt.Sprintf("input %s is %s", name, onOff(v)))
			} else {
				a.clear(alarm)
			}
		}
		if !initial {
			a.log.Info("input changed", "input", name, "asserted", v)
			a.event(wire.EventInput, map[string]any{"input": name, "asserted": v})
		}
	}
	if changed && !initial {
		a.publishState()
	}
}

func (a *Agent) inputsCopy() map[string]bool { return maps.Clone(a.inputs) }

func onOff(v bool) string {
	if v {
		return "asserted"
	}
	return "released"
}
