package health

import (
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/loaxa/loaxa/hal"
)

// Names of the modem alarms.
const (
	AlarmNoSIM        = "modem.no_sim"
	AlarmUnregistered = "modem.unregistered"
	AlarmUnresponsive = "modem.unresponsive"
	AlarmWeakSignal   = "modem.weak_signal"
)

// ModemPolicy says when the modem alarms are raised and cleared
// (modem.weak_rsrp_dbm, modem.unregistered_s).
type ModemPolicy struct {
	// WeakRSRPdBm: modem.weak_signal is raised when RSRP is below it in
	// WeakReadings readings in a row, and cleared when RSRP is back at or
	// above it plus WeakHysteresisdB.
	WeakRSRPdBm      float64
	WeakHysteresisdB float64
	WeakReadings     int
	// UnregisteredAfter: modem.unregistered is raised when the modem has
	// not been registered for that long (a modem searches for a minute
	// after a reset or a radio cycle, which is no fault).
	UnregisteredAfter time.Duration
	// UnresponsiveReadings: modem.unresponsive is raised after that many
	// failed readings in a row (one timeout is noise on a busy modem).
	UnresponsiveReadings int
}

// DefaultModemPolicy: -110 dBm is where LTE data becomes unreliable
// (3 dB of hysteresis, two readings); two minutes unregistered; three
// failed readings.
func DefaultModemPolicy() ModemPolicy {
	return ModemPolicy{
		WeakRSRPdBm:          -110,
		WeakHysteresisdB:     3,
		WeakReadings:         2,
		UnregisteredAfter:    2 * time.Minute,
		UnresponsiveReadings: 3,
	}
}

// Check says what is wrong with p, naming the configuration key.
func (p ModemPolicy) Check() error {
	var errs []error
	if p.WeakRSRPdBm < -140 || p.WeakRSRPdBm > -44 {
		errs = append(errs, fmt.Errorf("modem.weak_rsrp_dbm is %v, want -140 to -44", p.WeakRSRPdBm))
	}
	if p.UnregisteredAfter < 10*time.Second || p.UnregisteredAfter > 24*time.Hour {
		errs = append(errs, fmt.Errorf("modem.unregistered_s is %v, want 10 s to 24 h", p.UnregisteredAfter))
	}
	if p.WeakHysteresisdB < 0 || p.WeakReadings < 1 || p.UnresponsiveReadings < 1 {
		errs = append(errs, errors.New("modem alarm policy: hysteresis must be ≥ 0 and reading counts ≥ 1"))
	}
	return errors.Join(errs...)
}

// ModemAlarms applies a ModemPolicy to the modem's readings. Pure: the
// owner passes each reading with its time and gets the alarms that are
// active after it. Not safe for concurrent use.
type ModemAlarms struct {
	p          ModemPolicy
	seen       bool // a reading succeeded since start
	failures   int
	unregSince time.Time
	weak       int
	active     map[string]string
}

// NewModemAlarms returns the alarm state of a modem before any reading:
// nothing active.
func NewModemAlarms(p ModemPolicy) *ModemAlarms {
	return &ModemAlarms{p: p, active: map[string]string{}}
}

// Update takes the reading taken at now (r and err as hal.Modem.Read
// returned them) and returns the active alarms, name → detail for people.
// A detail is set when its alarm is raised and stays while it is active,
// so that the owner's "alarm (detail changed)" events do not repeat every
// reading.
//
// A board without a modem (an error wrapping hal.ErrAbsent before any
// reading succeeded) raises nothing: the agent reports the part missing.
// A value the reading does not have leaves its alarm as it was: a modem
// that stopped answering has not found its SIM or lost its signal.
func (m *ModemAlarms) Update(now time.Time, r hal.ModemReading, err error) map[string]string {
	switch {
	case err != nil && errors.Is(err, hal.ErrAbsent) && !m.seen:
		clear(m.active)
		return m.Active()
	case err != nil:
		m.failures++
		if _, was := m.active[AlarmUnresponsive]; !was && m.failures >= m.p.UnresponsiveReadings {
			// The detail is set once: a detail that changes raises a new
			// alarm event each reading.
			m.active[AlarmUnresponsive] = fmt.Sprintf("the modem did not answer %d readings in a row: %v", m.failures, err)
		}
		return m.Active()
	}
	m.seen = true
	m.failures = 0
	delete(m.active, AlarmUnresponsive)

	if r.SIM != nil {
		switch *r.SIM {
		case hal.SIMReady, hal.SIMBusy:
			delete(m.active, AlarmNoSIM)
		case hal.SIMAbsent:
			m.active[AlarmNoSIM] = "no SIM in the modem"
		case hal.SIMLocked:
			m.active[AlarmNoSIM] = "the SIM asks for a PIN or PUK"
		default:
			m.active[AlarmNoSIM] = "the SIM is not usable (SIM failure)"
		}
	}

	if r.Registration != nil {
		switch {
		case r.Registration.Registered():
			m.unregSince = time.Time{}
			delete(m.active, AlarmUnregistered)
		case m.unregSince.IsZero():
			m.unregSince = now
		}
		_, noSIM := m.active[AlarmNoSIM]
		if !m.unregSince.IsZero() && !noSIM && now.Sub(m.unregSince) >= m.p.UnregisteredAfter {
			m.active[AlarmUnregistered] = fmt.Sprintf("not registered on a network for over %v (%s)", m.p.UnregisteredAfter, *r.Registration)
		} else if noSIM {
			delete(m.active, AlarmUnregistered) // the SIM alarm says why
		}
	}

	if r.RSRPdBm != nil {
		rsrp := *r.RSRPdBm
		_, was := m.active[AlarmWeakSignal]
		switch {
		case rsrp < m.p.WeakRSRPdBm:
			m.weak++
			if m.weak >= m.p.WeakReadings && !was {
				m.active[AlarmWeakSignal] = fmt.Sprintf("RSRP %.0f dBm, below %.0f dBm", rsrp, m.p.WeakRSRPdBm)
			}
		case was && rsrp < m.p.WeakRSRPdBm+m.p.WeakHysteresisdB:
			m.weak = 0 // still weak: the alarm and its detail stay
		default:
			m.weak = 0
			delete(m.active, AlarmWeakSignal)
		}
	}
	return m.Active()
}

// Active returns the active alarms (a copy).
func (m *ModemAlarms) Active() map[string]string { return maps.Clone(m.active) }
