package ota

// BootInfo is what the supervisor tells the agent it started: which slot
// and version run, whether on trial, what the other slot holds, and what
// the supervisor did lately (its log). The supervisor passes it in the
// child's environment; supervisor.Attach reads it.
type BootInfo struct {
	// Supervised is false when the agent was not started by the
	// supervisor (a development run): the updater then refuses updates.
	Supervised bool `json:"-"`
	// Slot and Version are what runs.
	Slot    string `json:"slot"`
	Version string `json:"version"`
	// Trial is true while this version must still prove itself; the
	// supervisor commits it when the agent reports healthy within
	// TrialTimeoutMS of its start.
	Trial          bool  `json:"trial,omitempty"`
	TrialTimeoutMS int64 `json:"trial_timeout_ms,omitempty"`
	// Other describes the other slot.
	Other SlotState `json:"other"`
	// Log is the supervisor's recent decisions, oldest first.
	Log []BootEvent `json:"log,omitempty"`
}

// SlotState is what a slot holds as the supervisor sees it.
type SlotState struct {
	Slot    string `json:"slot"`
	Version string `json:"version,omitempty"`
	// Valid is true when the slot could be started (CheckSlot passes and
	// it did not fail a trial); Problem says why not.
	Valid   bool   `json:"valid"`
	Problem string `json:"problem,omitempty"`
}

// BootEvent is one decision of the supervisor.
type BootEvent struct {
	// Seq increases by one per event, across restarts.
	Seq uint64 `json:"seq"`
	// Kind is one of the Boot* constants.
	Kind string `json:"kind"`
	// From and To are the versions (and slots) left and started.
	From     string `json:"from,omitempty"`
	FromSlot string `json:"from_slot,omitempty"`
	To       string `json:"to,omitempty"`
	ToSlot   string `json:"to_slot,omitempty"`
	// Reason is a short code (see the Reason* constants), Detail says more.
	Reason string `json:"reason,omitempty"`
	Detail string `json:"detail,omitempty"`
	// At is when it happened (ms epoch).
	At int64 `json:"at"`
}

// Kinds of BootEvent.
const (
	// BootInstalled: the supervisor installed its own binary into an
	// empty data directory and committed it.
	BootInstalled = "installed"
	// BootSwitch: the agent asked for the switch; the new version starts
	// on trial.
	BootSwitch = "switch"
	// BootSwitchRefused: the agent asked for the switch but the other
	// slot is not usable (Detail says why); the old version goes on.
	BootSwitchRefused = "switch_refused"
	// BootCommitted: a version on trial reported healthy in time.
	BootCommitted = "committed"
	// BootRolledBack: a version on trial failed; the previous one runs
	// again.
	BootRolledBack = "rolled_back"
	// BootFallback: a committed version crashed in a loop; the other slot
	// starts on trial.
	BootFallback = "fallback"
)

// Reasons of a rollback or fallback.
const (
	ReasonCrashed      = "crashed"       // exited before reporting healthy
	ReasonTrialTimeout = "trial_timeout" // no health report in time; killed
	ReasonInterrupted  = "interrupted"   // the trial was cut (power, supervisor killed) too many times
	ReasonInvalid      = "invalid"       // the slot failed its check before starting
	ReasonCrashLoop    = "crash_loop"    // a committed version exited too often
)
