package ota

import (
	"errors"
	"time"
)

// StateName is an update's state as persisted and reported. The names are
// part of the state document and of the protocol: they never change.
type StateName string

// The states of an update. See docs/ota.md for the drawing and for what a
// power cut does in each.
const (
	// StateIdle: no update was ever accepted.
	StateIdle StateName = "idle"
	// StateVerified: a manifest was accepted (Highest raised, persisted).
	StateVerified StateName = "verified"
	// StateDownloading: download.part grows; Offset is persisted at
	// checkpoints.
	StateDownloading StateName = "downloading"
	// StateDownloaded: download.part has the manifest's size and SHA-256.
	StateDownloaded StateName = "downloaded"
	// StateInstalled: the inactive slot holds the new binary and its
	// slot.json; the updater waits for a gap in the programme.
	StateInstalled StateName = "installed"
	// StateSwitching: the agent was asked to exit so the supervisor starts
	// the new slot.
	StateSwitching StateName = "switching"
	// StateTrial: the new version runs on trial.
	StateTrial StateName = "trial"
	// StateCommitted: the new version reported healthy and the supervisor
	// committed it. Terminal.
	StateCommitted StateName = "committed"
	// StateRolledBack: the new version failed its trial; the old one runs.
	// Terminal.
	StateRolledBack StateName = "rolled_back"
	// StateFailed: the update stopped before the switch (Code says why);
	// the running version never changed. Terminal.
	StateFailed StateName = "failed"
)

// Terminal reports whether an update in state s is over.
func (s StateName) Terminal() bool {
	switch s {
	case StateIdle, StateCommitted, StateRolledBack, StateFailed:
		return true
	}
	return false
}

// MaxTransitions stops an update that keeps going round (for example an
// agent that asks for the switch and is never switched): it fails with
// ErrLoop instead of restarting the agent for ever.
const MaxTransitions = 40

// ErrLoop is the failure of an update that made MaxTransitions transitions.
var ErrLoop = errors.New("the update went through too many states")

// Inputs to the state machine: what happened.
type (
	// inResume: the updater (re)started; boot is what the supervisor says.
	inResume struct{ boot BootInfo }
	// inAccepted: a manifest was accepted and persisted in StateVerified.
	inAccepted struct{}
	// inDownloaded: download.part is complete and verified.
	inDownloaded struct{}
	// inInstalled: the inactive slot was written.
	inInstalled struct{}
	// inFailed: a worker failed for good.
	inFailed struct{ err error }
	// inGap: nothing that must not be cut plays.
	inGap struct{}
	// inNoGap: switch_by passed without a gap.
	inNoGap struct{}
	// inBoot: an event of the supervisor's log not seen before.
	inBoot struct{ ev BootEvent }
)

// Effects for the owner goroutine to carry out, after the new state is
// persisted.
type (
	effDownload struct{}
	effInstall  struct{}
	// effWaitGap arms the wait for a gap; a zero deadline waits for ever.
	effWaitGap struct{ deadline time.Time }
	effSwitch  struct{}
	effCleanup struct{}
	effEvent   struct {
		typ  string
		data map[string]any
	}
)

type effect any

// state is one state of an update: its handler takes the record and an
// input and returns the next record (whose State may have changed) and
// the effects to carry out. Handlers are pure: no I/O, no clock.
type state interface {
	handle(u Update, in any) (Update, []effect)
}

var states = map[StateName]state{
	StateVerified:    verifiedState{},
	StateDownloading: downloadingState{},
	StateDownloaded:  downloadedState{},
	StateInstalled:   installedState{},
	StateSwitching:   switchingState{},
	StateTrial:       trialState{},
	StateCommitted:   doneState{},
	StateRolledBack:  doneState{},
	StateFailed:      doneState{},
	StateIdle:        doneState{},
}

// step runs one input through the machine.
func step(u Update, in any) (Update, []effect) {
	if b, ok := in.(inBoot); ok {
		return bootEvent(u, b.ev)
	}
	s, ok := states[u.State]
	if !ok { // a state a newer release wrote: give up this update cleanly
		return fail(u, errors.Join(ErrStateCorrupted, errors.New("unknown state "+string(u.State))))
	}
	return s.handle(u, in)
}

type verifiedState struct{}

func (verifiedState) handle(u Update, in any) (Update, []effect) {
	switch in.(type) {
	case inAccepted, inResume:
		u.State = StateDownloading
		return u, []effect{effDownload{}}
	}
	return u, nil
}

type downloadingState struct{}

func (downloadingState) handle(u Update, in any) (Update, []effect) {
	switch in := in.(type) {
	case inResume:
		return u, []effect{effDownload{}}
	case inDownloaded:
		u.State = StateDownloaded
		return u, []effect{effInstall{}}
	case inFailed:
		return fail(u, in.err)
	}
	return u, nil
}

type downloadedState struct{}

func (downloadedState) handle(u Update, in any) (Update, []effect) {
	switch in := in.(type) {
	case inResume:
		return u, []effect{effInstall{}}
	case inInstalled:
		u.State = StateInstalled
		return u, []effect{
			effEvent{"ota.installed", map[string]any{"version": u.Version, "slot": u.Slot}},
			effWaitGap{switchBy(u)},
		}
	case inFailed:
		return fail(u, in.err)
	}
	return u, nil
}

type installedState struct{}

func (installedState) handle(u Update, in any) (Update, []effect) {
	switch in.(type) {
	case inResume:
		return u, []effect{effWaitGap{switchBy(u)}}
	case inGap:
		u.State = StateSwitching
		return u, []effect{
			effEvent{"ota.switching", map[string]any{"version": u.Version, "slot": u.Slot}},
			effSwitch{},
		}
	case inNoGap:
		return fail(u, ErrNoGap)
	}
	return u, nil
}

type switchingState struct{}

func (switchingState) handle(u Update, in any) (Update, []effect) {
	switch in := in.(type) {
	case inResume:
		b := in.boot
		if b.Slot == u.Slot && b.Version == u.Version {
			if b.Trial {
				u.State = StateTrial
				return u, nil
			}
			return commit(u)
		}
		// Still the old version: the agent stopped before the supervisor
		// saw the request (killed, power cut). Ask again at the next gap.
		u.State = StateInstalled
		return u, []effect{effWaitGap{switchBy(u)}}
	}
	return u, nil
}

type trialState struct{}

func (trialState) handle(u Update, in any) (Update, []effect) {
	switch in := in.(type) {
	case inResume:
		b := in.boot
		if b.Slot == u.Slot && b.Version == u.Version {
			if !b.Trial {
				return commit(u)
			}
			return u, nil
		}
		// Another version runs and the log said nothing about it: the
		// supervisor's log was lost. The trial did not succeed.
		return rollBack(u, BootEvent{To: b.Version, Reason: "unknown", Detail: "the supervisor started " + b.Version + " without saying why"})
	}
	return u, nil
}

// doneState is every terminal state: only a new manifest moves on.
type doneState struct{}

func (doneState) handle(u Update, _ any) (Update, []effect) { return u, nil }

// bootEvent applies one event of the supervisor's log. Events about this
// update move it; the others are reported as they are.
func bootEvent(u Update, ev BootEvent) (Update, []effect) {
	active := !u.State.Terminal()
	switch ev.Kind {
	case BootRolledBack, BootFallback:
		if active && ev.From == u.Version && u.State != StateVerified && u.State != StateDownloading && u.State != StateDownloaded {
			return rollBack(u, ev)
		}
		return u, []effect{rolledBackEvent(ev)}
	case BootCommitted:
		if active && ev.To == u.Version && (u.State == StateSwitching || u.State == StateTrial) {
			return commit(u)
		}
		if u.State == StateCommitted && ev.To == u.Version {
			return u, nil // reported when it happened
		}
		return u, []effect{effEvent{"ota.committed", map[string]any{"version": ev.To, "slot": ev.ToSlot, "previous": ev.From}}}
	case BootSwitchRefused:
		if active && ev.To == u.Version && u.State == StateSwitching {
			u2, effs := fail(u, ErrSwitchRefused)
			u2.Detail = ev.Detail
			return u2, effs
		}
	}
	return u, nil
}

func rolledBackEvent(ev BootEvent) effect {
	return effEvent{"ota.rolled_back", map[string]any{
		"version": ev.From, "running": ev.To, "reason": ev.Reason, "detail": ev.Detail,
	}}
}

func commit(u Update) (Update, []effect) {
	u.State = StateCommitted
	return u, []effect{
		effEvent{"ota.committed", map[string]any{"version": u.Version, "slot": u.Slot}},
		effCleanup{},
	}
}

func rollBack(u Update, ev BootEvent) (Update, []effect) {
	u.State = StateRolledBack
	u.Code, u.Detail = ev.Reason, ev.Detail
	u.Error = "rolled back: " + ev.Reason
	if ev.From == "" {
		ev.From = u.Version
	}
	return u, []effect{rolledBackEvent(ev), effCleanup{}}
}

func fail(u Update, err error) (Update, []effect) {
	u.FailedIn = u.State
	u.State = StateFailed
	u.Code, u.Error = Code(err), err.Error()
	effs := []effect{effEvent{"ota.failed", map[string]any{
		"version": u.Version, "code": u.Code, "error": u.Error, "state": string(u.FailedIn),
	}}}
	// A download that cannot be right is not kept; one cut by a full disk
	// is dropped to free the space. Others are kept so that the same
	// manifest, sent again, resumes.
	if errors.Is(err, ErrHashMismatch) || errors.Is(err, ErrSizeMismatch) || errors.Is(err, ErrDiskFull) {
		effs = append(effs, effCleanup{})
	}
	return u, effs
}

// retryable reports whether a failed update may be started again by the
// same manifest: it failed before the switch for a reason that can pass.
// A release that was switched to and rolled back never can: it needs a
// higher version.
func retryable(u *Update) bool {
	if u == nil || u.State != StateFailed {
		return false
	}
	switch u.Code {
	case "download_failed", "hash_mismatch", "size_mismatch", "disk_full", "no_gap", "switch_refused", "internal", "loop", "state_corrupted":
		return true
	}
	return false
}

// switchBy reads the manifest's deadline back from the record.
func switchBy(u Update) time.Time {
	s, err := ParseSigned(u.Signed)
	if err != nil {
		return time.Time{}
	}
	return s.Manifest.SwitchBy
}
