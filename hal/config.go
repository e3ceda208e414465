package hal

// PinConfig names one GPIO line and its polarity.
type PinConfig struct {
	// Pin is the name of the line as periph knows it, e.g. "GPIO17".
	Pin string `toml:"pin" json:"pin"`
	// ActiveLow is true for relay boards that energise the relay when the
	// line is driven low (most opto-isolated boards) and for inputs whose
	// asserted state reads low.
	ActiveLow bool `toml:"active_low" json:"active_low"`
	// Pull selects the input bias: "", "up", "down" or "none". Outputs ignore it.
	Pull string `toml:"pull,omitempty" json:"pull,omitempty"`
}

// Layout says how a pole is wired: which pins feed which zone, which pin
// powers the amplifier, which pins sense inputs.
type Layout struct {
	Zones  map[string][]PinConfig `toml:"zones" json:"zones"`
	Amp    PinConfig              `toml:"amp" json:"amp"`
	Inputs map[string]PinConfig   `toml:"inputs" json:"inputs"`
}
