package ota

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// The policy alone: a record and an input give the next state and the
// effects, with no I/O.
func TestStep(t *testing.T) {
	rec := func(s StateName) Update { return Update{State: s, Version: "v1.3.0", Slot: "b"} }
	onB := BootInfo{Supervised: true, Slot: "b", Version: "v1.3.0"}
	onBTrial := onB
	onBTrial.Trial = true
	onA := BootInfo{Supervised: true, Slot: "a", Version: "v1.2.0"}
	tests := []struct {
		name    string
		from    StateName
		in      any
		want    StateName
		effects string
	}{
		{"accepted starts the download", StateVerified, inAccepted{}, StateDownloading, "download"},
		{"a restart in verified downloads", StateVerified, inResume{onA}, StateDownloading, "download"},
		{"a restart resumes the download", StateDownloading, inResume{onA}, StateDownloading, "download"},
		{"downloaded installs", StateDownloading, inDownloaded{}, StateDownloaded, "install"},
		{"a failed download", StateDownloading, inFailed{fmt.Errorf("x: %w", ErrHashMismatch)}, StateFailed, "event:ota.failed cleanup"},
		{"a link that never came back keeps the part", StateDownloading, inFailed{ErrDownload}, StateFailed, "event:ota.failed"},
		{"a restart in downloaded installs again", StateDownloaded, inResume{onA}, StateDownloaded, "install"},
		{"installed waits for a gap", StateDownloaded, inInstalled{}, StateInstalled, "event:ota.installed waitgap"},
		{"a restart in installed waits again", StateInstalled, inResume{onA}, StateInstalled, "waitgap"},
		{"a gap switches", StateInstalled, inGap{}, StateSwitching, "event:ota.switching switch"},
		{"no gap by switch_by", StateInstalled, inNoGap{}, StateFailed, "event:ota.failed"},
		{"the new version on trial", StateSwitching, inResume{onBTrial}, StateTrial, ""},
		{"already committed by the supervisor", StateSwitching, inResume{onB}, StateCommitted, "event:ota.committed cleanup"},
		{"killed before the supervisor saw it", StateSwitching, inResume{onA}, StateInstalled, "waitgap"},
		{"trial goes on", StateTrial, inResume{onBTrial}, StateTrial, ""},
		{"trial committed while down", StateTrial, inResume{onB}, StateCommitted, "event:ota.committed cleanup"},
		{"trial lost without a word", StateTrial, inResume{onA}, StateRolledBack, "event:ota.rolled_back cleanup"},
		{"committed by the health report", StateTrial, inBoot{BootEvent{Kind: BootCommitted, To: "v1.3.0", ToSlot: "b"}}, StateCommitted, "event:ota.committed cleanup"},
		{"rolled back", StateSwitching, inBoot{BootEvent{Kind: BootRolledBack, From: "v1.3.0", To: "v1.2.0", Reason: ReasonCrashed}}, StateRolledBack, "event:ota.rolled_back cleanup"},
		{"switch refused", StateSwitching, inBoot{BootEvent{Kind: BootSwitchRefused, To: "v1.3.0"}}, StateFailed, "event:ota.failed"},
		{"a fallback of another version is only reported", StateCommitted, inBoot{BootEvent{Kind: BootFallback, From: "v1.3.0", To: "v1.2.0", Reason: ReasonCrashLoop}}, StateCommitted, "event:ota.rolled_back"},
		{"a commit already reported", StateCommitted, inBoot{BootEvent{Kind: BootCommitted, To: "v1.3.0"}}, StateCommitted, ""},
		{"terminal states ignore the rest", StateFailed, inGap{}, StateFailed, ""},
		{"a state from a newer release", "flashing", inResume{onA}, StateFailed, "event:ota.failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, effs := step(rec(tt.from), tt.in)
			if got.State != tt.want || describe(effs) != tt.effects {
				t.Errorf("%s + %T = %s [%s]; want %s [%s]", tt.from, tt.in, got.State, describe(effs), tt.want, tt.effects)
			}
			if got.State == StateFailed && tt.from != StateFailed && (got.Code == "" || got.FailedIn != tt.from) {
				t.Errorf("a failure without code or origin: %+v", got)
			}
		})
	}
}

func describe(effs []effect) string {
	var parts []string
	for _, e := range effs {
		switch e := e.(type) {
		case effDownload:
			parts = append(parts, "download")
		case effInstall:
			parts = append(parts, "install")
		case effWaitGap:
			parts = append(parts, "waitgap")
		case effSwitch:
			parts = append(parts, "switch")
		case effCleanup:
			parts = append(parts, "cleanup")
		case effEvent:
			parts = append(parts, "event:"+e.typ)
		}
	}
	return strings.Join(parts, " ")
}

func TestRetryable(t *testing.T) {
	for code, want := range map[string]bool{"download_failed": true, "no_gap": true, "disk_full": true, "crashed": false} {
		u := &Update{State: StateFailed, Code: code}
		if code == "crashed" {
			u.State = StateRolledBack
		}
		if retryable(u) != want {
			t.Errorf("retryable(%s) = %v", code, !want)
		}
	}
	if Code(errors.Join(ErrLoop)) != "loop" {
		t.Error("loop code")
	}
}
