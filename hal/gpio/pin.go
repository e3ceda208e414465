package gpio

import (
	"fmt"

	"periph.io/x/conn/v3/gpio"

	"github.com/loaxa/loaxa/hal"
)

// NewOutput wraps a periph pin as a relay output. activeLow is true for relay
// boards that energise the relay when the line is low. The pin is not
// touched until the first Set. p must not be nil.
func NewOutput(p gpio.PinIO, activeLow bool) hal.Output {
	return &output{pin: p, activeLow: activeLow}
}

// output holds no state of its own: the line is the state, so there is
// nothing to keep in step with it and nothing to guard.
type output struct {
	pin       gpio.PinIO
	activeLow bool
}

func (o *output) String() string { return describe(o.pin, o.activeLow) }

// Set drives the line to on XOR activeLow. periph's Out writes the level
// before switching the line's function to output (bcm283x), so a line that
// was still an input goes straight to the chosen level.
func (o *output) Set(on bool) error {
	if err := o.pin.Out(gpio.Level(on != o.activeLow)); err != nil {
		return fmt.Errorf("gpio: set %s %s: %w", o, onOff(on), err)
	}
	return nil
}

// Halt releases the relay. It drives the line even if Set was never called:
// released is the safe state, whatever the boot-time pull left on the line.
func (o *output) Halt() error { return o.Set(false) }

// NewInput configures a periph pin as a sense input with the given bias
// ("", "up", "down" or "none"; "" keeps the board's setting) and returns it.
// activeLow is true when the asserted state (door open, mains present) reads
// low on the line.
func NewInput(p gpio.PinIO, activeLow bool, pull string) (hal.Input, error) {
	pl, err := parsePull(pull)
	if err != nil {
		return nil, fmt.Errorf("gpio: input %s: %w", p.Name(), err)
	}
	if err := p.In(pl, gpio.NoEdge); err != nil {
		return nil, fmt.Errorf("gpio: configure %s as input with pull %s: %w", p.Name(), pl, err)
	}
	return &input{pin: p, activeLow: activeLow}, nil
}

type input struct {
	pin       gpio.PinIO
	activeLow bool
}

func (i *input) String() string { return describe(i.pin, i.activeLow) }

// Read returns true when the line is asserted after polarity. periph's Read
// cannot fail; a broken line reads as whatever its bias gives.
func (i *input) Read() (bool, error) { return bool(i.pin.Read()) != i.activeLow, nil }

// Halt does nothing: the input uses no edge detection to stop, and halting a
// periph pin may release the line (gpioioctl), after which a Read would
// reconfigure it with a different bias.
func (i *input) Halt() error { return nil }

func parsePull(s string) (gpio.Pull, error) {
	switch s {
	case "":
		return gpio.PullNoChange, nil
	case "up":
		return gpio.PullUp, nil
	case "down":
		return gpio.PullDown, nil
	case "none":
		return gpio.Float, nil
	}
	return gpio.PullNoChange, fmt.Errorf(`pull must be "up", "down", "none" or empty, got %q`, s)
}

func describe(p gpio.PinIO, activeLow bool) string {
	if activeLow {
		return p.Name() + " (active-low)"
	}
	return p.Name()
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}
