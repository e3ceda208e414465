package hal

import "errors"

// ErrAbsent is wrapped by backends whose part is not present on this board
// (no GPIO driver, no thermal zone, no modem). It is not a failure: the agent
// runs without the part and reports it as missing.
var ErrAbsent = errors.New("not present on this board")

// Output is one relay line (a speaker zone line or the amplifier power).
// Set drives the logical level: true means the relay is energised, whatever
// the electrical polarity of the board (active-low boards are handled by the
// backend). A backend does not drive the line before the first Set, so the
// first level the relay sees is the one the agent chose (no start-up glitch).
type Output interface {
	// String names the output, e.g. "GPIO17 (active-low)".
	String() string
	// Set switches the relay. Setting the level it already has is allowed
	// and must not produce a glitch on the line.
	Set(on bool) error
	// Halt returns the output to its safe state: relay released.
	Halt() error
}

// Input is one digital sense line (tamper switch, mains sense, amplifier
// fault). Read returns the logical level: true means "asserted" (door open,
// mains present, fault), after the backend applied the pin's polarity.
type Input interface {
	String() string
	Read() (bool, error)
	Halt() error
}

// Board is the single-board computer itself.
type Board interface {
	String() string
	// Reboot restarts the whole board. It returns once the reboot has been
	// requested; the process is normally killed soon after.
	Reboot() error
	// CPUTemp returns the SoC temperature in degrees Celsius; an error
	// wrapping ErrAbsent if the board has no thermal sensor.
	CPUTemp() (float64, error)
	Halt() error
}

// Hardware is the set of parts the agent drives, as wired on one pole.
// Zones maps a zone name to the relay outputs that feed its speaker lines
// (usually one, sometimes a line per horn).
type Hardware struct {
	Zones  map[string][]Output
	Amp    Output
	Inputs map[string]Input
	Board  Board
	// Clock reports the system clock's synchronisation; nil when unknown
	// (then the clock counts as not synchronised).
	Clock SyncClock
}

// Halt puts every part into its safe state and returns the first error.
func (h *Hardware) Halt() error {
	var errs []error
	for _, outs := range h.Zones {
		for _, o := range outs {
			errs = append(errs, o.Halt())
		}
	}
	if h.Amp != nil {
		errs = append(errs, h.Amp.Halt())
	}
	for _, in := range h.Inputs {
		errs = append(errs, in.Halt())
	}
	if h.Board != nil {
		errs = append(errs, h.Board.Halt())
	}
	return errors.Join(errs...)
}
