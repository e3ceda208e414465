package watchdog

import (
	"errors"
	"fmt"
	"time"
)

// MinStep is the shortest threshold a configuration may set: shorter ones
// would fight the MQTT client's own reconnection (tests set 10 s).
const MinStep = 10 * time.Second

// HeldRecheck is how soon a withheld reboot is considered again.
const HeldRecheck = 30 * time.Second

// Step is one rung of the ladder.
type Step int

// Steps, in the order they are taken.
const (
	StepNone Step = iota
	// StepReconnect drops the broker connection and dials again at once,
	// without waiting for the client's backoff.
	StepReconnect
	// StepRadioCycle switches the modem's radio off and on (AT+CFUN=0,
	// then AT+CFUN=1): the modem detaches and registers again.
	StepRadioCycle
	// StepModemReset restarts the modem (AT+CFUN=1,1), or cuts its power
	// through a relay when it no longer answers.
	StepModemReset
	// StepReboot reboots the board.
	StepReboot
)

// String is the step's name in the watchdog.step event.
func (s Step) String() string {
	switch s {
	case StepNone:
		return "none"
	case StepReconnect:
		return "reconnect"
	case StepRadioCycle:
		return "radio_cycle"
	case StepModemReset:
		return "modem_reset"
	case StepReboot:
		return "reboot"
	}
	return fmt.Sprintf("step(%d)", int(s))
}

// Config holds the thresholds, each counted from the moment the broker
// became unreachable (watchdog.reconnect_s, radio_s, modem_reset_s,
// reboot_s) and the reboot budget (watchdog.max_reboots_per_day).
type Config struct {
	Reconnect  time.Duration
	Radio      time.Duration
	ModemReset time.Duration
	Reboot     time.Duration
	// MaxRebootsPerDay is how many reboots the watchdog may ask for in
	// any 24 hours; 0 never reboots.
	MaxRebootsPerDay int
}

// DefaultConfig is a ladder for a pole on 4G: the MQTT client retries on
// its own for the first two minutes; then the radio, the modem and, after
// an hour, the board; at most three reboots a day.
func DefaultConfig() Config {
	return Config{
		Reconnect:        2 * time.Minute,
		Radio:            5 * time.Minute,
		ModemReset:       15 * time.Minute,
		Reboot:           60 * time.Minute,
		MaxRebootsPerDay: 3,
	}
}

// Check says what is wrong with c, naming the configuration key.
func (c Config) Check() error {
	var errs []error
	steps := []struct {
		key string
		d   time.Duration
	}{
		{"watchdog.reconnect_s", c.Reconnect},
		{"watchdog.radio_s", c.Radio},
		{"watchdog.modem_reset_s", c.ModemReset},
		{"watchdog.reboot_s", c.Reboot},
	}
	for i, s := range steps {
		if s.d < MinStep {
			errs = append(errs, fmt.Errorf("%s is %v, want at least %v", s.key, s.d, MinStep))
		}
		if i > 0 && s.d <= steps[i-1].d {
			errs = append(errs, fmt.Errorf("%s (%v) must be longer than %s (%v): the steps go in order", s.key, s.d, steps[i-1].key, steps[i-1].d))
		}
	}
	if c.MaxRebootsPerDay < 0 || c.MaxRebootsPerDay > 24 {
		errs = append(errs, fmt.Errorf("watchdog.max_reboots_per_day is %d, want 0 to 24", c.MaxRebootsPerDay))
	}
	return errors.Join(errs...)
}

func (c Config) at(s Step) time.Duration {
	switch s {
	case StepReconnect:
		return c.Reconnect
	case StepRadioCycle:
		return c.Radio
	case StepModemReset:
		return c.ModemReset
	case StepReboot:
		return c.Reboot
	}
	return 0
}

// Input is what the ladder needs to know at an evaluation.
type Input struct {
	Now time.Time
	// DownSince is when the broker became unreachable (the last moment it
	// was connected, or the agent's start if it never was); zero while the
	// link is up.
	DownSince time.Time
	// RebootsToday is how many reboots the watchdog asked for in the 24
	// hours before Now (across restarts: the owner keeps them on disk; see
	// CountSince).
	RebootsToday int
	// Busy, when not "", is why the board must not reboot now:
	// "emergency", "live", "update".
	Busy string
}

// Record is one step taken (or a reboot withheld) during an outage, to be
// reported as a watchdog.step event once the link is back.
type Record struct {
	Step Step
	// At is when the step was due and handed to the owner.
	At time.Time
	// DownSince is when the outage began.
	DownSince time.Time
	// Withheld, when not "", says why the step was not taken: "emergency",
	// "live", "update" (a reboot during one of those), or "limit" (the day's
	// reboots are used up).
	Withheld string
	// Err is how the step failed, "" when it worked (filled in by Failed).
	Err string
}

// Decision is the outcome of an evaluation.
type Decision struct {
	// Step is the step the owner must take now; StepNone when none.
	Step Step
	// Next is when to evaluate again; zero while the link is up (evaluate
	// when it goes down).
	Next time.Time
	// Report holds the records of the outage that just ended, to publish
	// as watchdog.step events now that the link is back.
	Report []Record
	// Dropped is how many older records of that outage were dropped to
	// keep Report bounded (64).
	Dropped int
}

// maxRecords bounds the records kept for one report: an outage of days
// with no reboot allowed adds one per round.
const maxRecords = 64

// Ladder is the connectivity watchdog's policy: pure (no clock, no I/O, no
// goroutine), fed by its owner with the time and the link's state, it says
// which step is due.
//
// Each step is taken once per outage, in order, when its threshold has
// passed since the link went down; when several are due at once (the owner
// was late) only the highest is taken. A reboot is withheld while an
// emergency or live item plays or an update runs (the modem reset below it
// is still taken) and considered again every HeldRecheck. Once the top was
// reached, a reboot taken, or refused for the day (max_reboots_per_day),
// the ladder starts a new round from the radio cycle, with the thresholds
// counted from that moment, so a pole that stays cut off keeps trying
// without rebooting more than allowed. When the link is back the ladder
// resets and hands out the records of the outage.
//
// A Ladder is not safe for concurrent use: it belongs to its owner.
type Ladder struct {
	cfg       Config
	downSince time.Time // the outage being handled; zero: none
	base      time.Time // what the thresholds count from in this round
	round     int       // 0 for the first round of the outage
	done      Step      // the highest step handed out in this round
	heldFor   string    // why the reboot is withheld now, "" if it is not
	records   []Record
	dropped   int
}

// New returns a ladder for cfg, which must pass Check.
func New(cfg Config) (*Ladder, error) {
	if err := cfg.Check(); err != nil {
		return nil, fmt.Errorf("watchdog: %w", err)
	}
	return &Ladder{cfg: cfg}, nil
}

// Evaluate says which step is due at in.Now and when to evaluate next.
// The owner calls it when the link goes down or comes back, when a Busy
// reason ends, and at Decision.Next, and carries out Decision.Step.
func (l *Ladder) Evaluate(in Input) Decision {
	if in.DownSince.IsZero() {
		d := Decision{Report: l.records, Dropped: l.dropped}
		*l = Ladder{cfg: l.cfg}
		return d
	}
	if !l.downSince.Equal(in.DownSince) {
		// A new outage. Records of an earlier one the owner did not
		// report (the link came back between two evaluations) are kept.
		l.downSince, l.base, l.round, l.done, l.heldFor = in.DownSince, in.DownSince, 0, StepNone, ""
	}

	due := StepNone
	for s := l.done + 1; s <= StepReboot; s++ {
		if s == StepReconnect && l.round > 0 {
			continue // later rounds start at the radio
		}
		if !in.Now.Before(l.base.Add(l.cfg.at(s))) {
			due = s
		}
	}
	switch {
	case due == StepNone:
		return Decision{Next: l.next(in.Now)}
	case due < StepReboot:
		l.done = due
		return Decision{Step: l.take(due, in.Now), Next: l.next(in.Now)}
	}

	reason := in.Busy
	if reason == "" && in.RebootsToday >= l.cfg.MaxRebootsPerDay {
		reason = "limit"
	}
	switch reason {
	case "":
		d := Decision{Step: l.take(StepReboot, in.Now)}
		// Should the reboot not happen, the ladder goes on.
		l.newRound(in.Now)
		d.Next = l.next(in.Now)
		return d
	case "limit":
		l.hold(reason, in.Now)
		l.newRound(in.Now)
		return Decision{Next: l.next(in.Now)}
	}
	// Busy: no reboot now, but the modem reset below it is no risk to
	// what plays (the audio comes from the board, or has stopped anyway).
	if l.heldFor != reason {
		l.hold(reason, in.Now)
	}
	d := Decision{Next: in.Now.Add(HeldRecheck)}
	if l.done < StepModemReset {
		l.done = StepModemReset
		d.Step = l.take(StepModemReset, in.Now)
	}
	return d
}

// take records step s.
func (l *Ladder) take(s Step, now time.Time) Step {
	l.add(Record{Step: s, At: now, DownSince: l.downSince})
	return s
}

// hold records a reboot withheld for reason.
func (l *Ladder) hold(reason string, now time.Time) {
	l.heldFor = reason
	l.add(Record{Step: StepReboot, At: now, DownSince: l.downSince, Withheld: reason})
}

func (l *Ladder) add(r Record) {
	if len(l.records) >= maxRecords {
		l.records = append(l.records[:0], l.records[1:]...)
		l.dropped++
	}
	l.records = append(l.records, r)
}

// newRound starts the ladder again from the radio cycle, counted from now.
func (l *Ladder) newRound(now time.Time) {
	l.base, l.done, l.heldFor = now, StepReconnect, ""
	l.round++
}

// next is when the next step of the round is due.
func (l *Ladder) next(now time.Time) time.Time {
	for s := l.done + 1; s <= StepReboot; s++ {
		if t := l.base.Add(l.cfg.at(s)); t.After(now) {
			return t
		}
	}
	return now.Add(HeldRecheck)
}

// Failed notes that the step handed out last failed, so that its record
// says so.
func (l *Ladder) Failed(s Step, err error) {
	if err == nil {
		return
	}
	for i := len(l.records) - 1; i >= 0; i-- {
		if l.records[i].Step == s && l.records[i].Withheld == "" {
			l.records[i].Err = err.Error()
			return
		}
	}
}

// Pending returns the records not yet reported, for the owner to keep on
// disk before it reboots the board (they are reported after the restart).
func (l *Ladder) Pending() []Record {
	out := make([]Record, len(l.records))
	copy(out, l.records)
	return out
}

// CountSince counts the times in reboots that fall in the 24 hours before
// now (times in the future, from a clock that was wrong, count too: they
// happened).
func CountSince(reboots []time.Time, now time.Time) int {
	n := 0
	for _, t := range reboots {
		if t.After(now.Add(-24 * time.Hour)) {
			n++
		}
	}
	return n
}
