package gpio

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/host/v3"

	"github.com/loaxa/loaxa/hal"
)

// Open initialises periph's host drivers and builds the zones, amplifier and
// inputs of layout l. Board is left nil (see hal/board). Inputs are
// configured at once; outputs are not touched until their first Set.
//
// If any configured pin is not found on this host, Open returns an error
// wrapping hal.ErrAbsent that names the missing pins. A pin that exists but
// fails to configure gives an error that does not wrap hal.ErrAbsent.
func Open(l hal.Layout) (*hal.Hardware, error) {
	state, err := host.Init()
	if err != nil {
		return nil, fmt.Errorf("gpio: initialise periph host drivers: %w", err)
	}
	hw, err := open(l, gpioreg.ByName, func() int { return len(gpioreg.All()) })
	if errors.Is(err, hal.ErrAbsent) && len(state.Failed) > 0 {
		// A GPIO driver that failed to load (no access to /dev/gpiomem, say)
		// also hides the pins: say so, or the technician looks for a wiring
		// fault that is a permission fault.
		var failed []string
		for _, f := range state.Failed {
			failed = append(failed, f.String())
		}
		err = fmt.Errorf("%w (periph drivers that failed to load: %s)", err, strings.Join(failed, "; "))
	}
	return hw, err
}

// open is Open with the pin registry injected, so tests can hand it fake
// pins without registering them in periph's process-wide registry.
func open(l hal.Layout, byName func(string) gpio.PinIO, count func() int) (*hal.Hardware, error) {
	pins := map[string]gpio.PinIO{}
	var missing []string
	var unnamed []string
	look := func(what, name string) {
		if name == "" {
			unnamed = append(unnamed, what)
			return
		}
		if _, seen := pins[name]; seen {
			return
		}
		p := byName(name)
		if p == nil {
			missing = append(missing, name)
		}
		pins[name] = p
	}
	for _, zone := range slices.Sorted(maps.Keys(l.Zones)) {
		for i, pc := range l.Zones[zone] {
			look(fmt.Sprintf("zone %s[%d]", zone, i), pc.Pin)
		}
	}
	look("amp", l.Amp.Pin)
	for _, name := range slices.Sorted(maps.Keys(l.Inputs)) {
		look("input "+name, l.Inputs[name].Pin)
	}
	if len(unnamed) > 0 {
		return nil, fmt.Errorf("gpio: no pin name given for %s", strings.Join(unnamed, ", "))
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("gpio: %s not found among this host's %d GPIO lines: %w",
			strings.Join(quoteAll(missing), ", "), count(), hal.ErrAbsent)
	}

	hw := &hal.Hardware{
		Zones:  make(map[string][]hal.Output, len(l.Zones)),
		Amp:    NewOutput(pins[l.Amp.Pin], l.Amp.ActiveLow),
		Inputs: make(map[string]hal.Input, len(l.Inputs)),
	}
	for zone, outs := range l.Zones {
		for _, pc := range outs {
			hw.Zones[zone] = append(hw.Zones[zone], NewOutput(pins[pc.Pin], pc.ActiveLow))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(l.Inputs)) {
		pc := l.Inputs[name]
		in, err := NewInput(pins[pc.Pin], pc.ActiveLow, pc.Pull)
		if err != nil {
			return nil, fmt.Errorf("gpio: input %s: %w", name, err)
		}
		hw.Inputs[name] = in
	}
	return hw, nil
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}
