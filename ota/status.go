package ota

// Status is the OTA part of the pole's state document ("ota" in state and
// in the status command's result).
type Status struct {
	// Version is the running version; Arch this pole's architecture (what
	// a manifest's "arch" must say).
	Version string `json:"version"`
	Arch    string `json:"arch"`
	// Slot is the running slot, Trial whether it still runs on trial
	// (both empty when not supervised).
	Slot  string `json:"slot,omitempty"`
	Trial bool   `json:"trial,omitempty"`
	// Other is the other slot.
	Other *SlotState `json:"other,omitempty"`
	// State is the update's state (StateIdle when none was ever
	// accepted); Target the version it is about.
	State  StateName `json:"state"`
	Target string    `json:"target,omitempty"`
	// Progress is the download's, while downloading.
	Progress *Progress `json:"progress,omitempty"`
	// WaitingFor says what plays while an installed update waits for a gap.
	WaitingFor string `json:"waiting_for,omitempty"`
	// Error is the last failure (of the last update, or of the updater).
	Error *Failure `json:"error,omitempty"`
}

// Progress of a download.
type Progress struct {
	Bytes int64 `json:"bytes"`
	Size  int64 `json:"size"`
}

// Failure is why an update failed or was rolled back.
type Failure struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	At      int64  `json:"at"`
}

// publish rebuilds the Status snapshot; Run's goroutine only.
func (u *Updater) publish() {
	s := &Status{Version: u.o.Version, Arch: u.o.Arch, State: StateIdle, Error: u.lastErr}
	if u.boot.Supervised {
		s.Slot, s.Trial = u.boot.Slot, u.boot.Trial
		o := u.other
		s.Other = &o
	}
	if r := u.rec; r != nil {
		s.State, s.Target = r.State, r.Version
		switch r.State {
		case StateVerified, StateDownloading, StateDownloaded:
			s.Progress = &Progress{Bytes: r.Offset, Size: r.Size}
			if r.State == StateDownloaded {
				s.Progress.Bytes = r.Size
			}
		case StateInstalled, StateSwitching:
			s.Other = &SlotState{Slot: r.Slot, Version: r.Version, Valid: true}
			if r.State == StateInstalled {
				s.WaitingFor = u.busyReason()
			}
		case StateFailed, StateRolledBack:
			if s.Error == nil {
				s.Error = &Failure{Code: r.Code, Message: r.Error, At: r.Since}
			}
		}
	}
	u.status.Store(s)
}
