package health

import (
	"errors"
	"fmt"
)

// ThermalLevel is how hot the board is.
type ThermalLevel int

// Levels.
const (
	ThermalNormal ThermalLevel = iota
	ThermalWarning
	ThermalCritical
)

func (l ThermalLevel) String() string {
	switch l {
	case ThermalNormal:
		return "normal"
	case ThermalWarning:
		return "warning"
	case ThermalCritical:
		return "critical"
	}
	return fmt.Sprintf("level(%d)", int(l))
}

// Alarm is the name of the alarm a level raises ("" for normal):
// temp_warning or temp_critical. At most one of them is active.
func (l ThermalLevel) Alarm() string {
	switch l {
	case ThermalWarning:
		return "temp_warning"
	case ThermalCritical:
		return "temp_critical"
	}
	return ""
}

// Thermal is the thermal policy (health.temp_warning_c,
// health.temp_critical_c, health.temp_hysteresis_c,
// health.critical_volume).
type Thermal struct {
	// WarningC and CriticalC are the temperatures at which the levels are
	// entered. A Raspberry Pi throttles at 80 °C and fails soon above 85.
	WarningC, CriticalC float64
	// HysteresisC is how far below a threshold the temperature must fall
	// to leave its level, so that a board hovering at the threshold does
	// not raise and clear the alarm every reading.
	HysteresisC float64
	// CriticalVolume caps the output volume (0–100) while critical: the
	// amplifier and the board share the cabinet's heat.
	CriticalVolume int
}

// DefaultThermal is the policy for a Raspberry Pi in a closed metal
// cabinet in the sun.
func DefaultThermal() Thermal {
	return Thermal{WarningC: 75, CriticalC: 82, HysteresisC: 5, CriticalVolume: 50}
}

// Check says what is wrong with t, naming the configuration key.
func (t Thermal) Check() error {
	var errs []error
	if t.WarningC < 40 || t.WarningC > 110 {
		errs = append(errs, fmt.Errorf("health.temp_warning_c is %v, want 40 to 110", t.WarningC))
	}
	if t.CriticalC <= t.WarningC || t.CriticalC > 120 {
		errs = append(errs, fmt.Errorf("health.temp_critical_c is %v, want above health.temp_warning_c (%v) and at most 120", t.CriticalC, t.WarningC))
	}
	if t.HysteresisC < 0.5 || t.HysteresisC > 20 {
		errs = append(errs, fmt.Errorf("health.temp_hysteresis_c is %v, want 0.5 to 20", t.HysteresisC))
	}
	if t.CriticalVolume < 0 || t.CriticalVolume > 100 {
		errs = append(errs, fmt.Errorf("health.critical_volume is %d, want 0 to 100", t.CriticalVolume))
	}
	return errors.Join(errs...)
}

// Next returns the level after a reading of tempC (nil: the sensor could
// not be read), given the level before. A level is entered at its
// threshold and left only HysteresisC below it; a missing reading keeps
// the level (a sensor that fails while the board is hot must not lift the
// volume cap).
func (t Thermal) Next(prev ThermalLevel, tempC *float64) ThermalLevel {
	if tempC == nil {
		return prev
	}
	c := *tempC
	switch {
	case c >= t.CriticalC:
		return ThermalCritical
	case prev == ThermalCritical && c > t.CriticalC-t.HysteresisC:
		return ThermalCritical
	case c >= t.WarningC:
		return ThermalWarning
	case prev >= ThermalWarning && c > t.WarningC-t.HysteresisC:
		return ThermalWarning
	}
	return ThermalNormal
}

// Volume returns the volume to play at for the level: the operator's
// volume, capped at CriticalVolume while critical.
func (t Thermal) Volume(level ThermalLevel, volume int) int {
	if level == ThermalCritical && volume > t.CriticalVolume {
		return t.CriticalVolume
	}
	return volume
}
