package supervisor

import (
	"context"
	"fmt"
	"time"

	"github.com/loaxa/loaxa/ota"
)

// decide acts on how a child ended.
func (s *supervisor) decide(ctx context.Context, spec runSpec, out outcome) {
	s.log.Info("agent exited", "slot", spec.slot, "version", spec.version, "exit", out.exit.String())
	last := ""
	if out.status != "" {
		last = " (last status: " + out.status + ")"
	}
	if spec.trial && !out.committed {
		switch {
		case out.timedOut:
			s.rollback(ota.ReasonTrialTimeout, fmt.Sprintf("no health report within %v; stopped%s", spec.timeout, last))
		case out.exit.Code == ExitRestart:
			s.restarted = true // the agent asked: the same trial goes on, not a new start
		default:
			s.rollback(ota.ReasonCrashed, out.exit.String()+" before reporting healthy"+last)
		}
		return
	}
	switch out.exit.Code {
	case ExitRestart:
		return
	case ExitSwitch:
		s.switchOver()
		return
	}
	now := s.clock.Now()
	recent := s.boot.Exits[:0:0]
	for _, t := range s.boot.Exits {
		if now.Sub(time.UnixMilli(t)) < s.o.CrashLoopWindow {
			recent = append(recent, t)
		}
	}
	recent = append(recent, now.UnixMilli())
	if len(recent) > s.o.CrashLoopExits {
		recent = recent[len(recent)-s.o.CrashLoopExits:]
	}
	s.boot.Exits = recent
	if len(recent) >= s.o.CrashLoopExits {
		other := ota.OtherSlot(s.boot.Active)
		si, err := s.usable(other)
		if err == nil {
			s.boot.Trial = &Trial{Slot: other, Version: si.Version, SHA256: si.SHA256, TimeoutMS: s.trialTimeout(si).Milliseconds(), Fallback: true}
			s.boot.addLog(ota.BootEvent{Kind: ota.BootFallback, From: spec.version, FromSlot: s.boot.Active, To: si.Version, ToSlot: other,
				Reason: ota.ReasonCrashLoop, Detail: fmt.Sprintf("%d exits within %v, the last: %s", len(recent), s.o.CrashLoopWindow, out.exit), At: s.now()})
			s.boot.Exits = nil
			s.saveLogged()
			s.log.Warn("crash loop: falling back to the other slot", "from", spec.version, "to", si.Version)
			s.hook(ota.BootFallback)
			return
		}
		s.log.Error("crash loop, and the other slot cannot run; restarting with backoff", "version", spec.version, "other", err)
	}
	s.saveLogged()
	s.notify("WATCHDOG=1")
	d := s.bo.Next()
	s.log.Info("restarting the agent", "in", d, "exits", len(recent))
	t := s.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
	case <-ctx.Done():
		s.stopping = true
	case <-s.o.Signals:
		s.stopping = true
	}
}

// commit makes the trial slot the committed one.
func (s *supervisor) commit() (ota.BootEvent, error) {
	t := s.boot.Trial
	prev := s.boot
	prevVersion := s.slotVersion(s.boot.Active)
	ev := s.boot.addLog(ota.BootEvent{Kind: ota.BootCommitted, From: prevVersion, FromSlot: s.boot.Active,
		To: t.Version, ToSlot: t.Slot, At: s.now()})
	if t.Fallback {
		ev.Reason = ota.ReasonCrashLoop
		s.boot.Log[len(s.boot.Log)-1] = ev
	}
	s.boot.Active, s.boot.Trial, s.boot.Exits = t.Slot, nil, nil
	if err := s.save(); err != nil {
		s.boot = prev
		return ota.BootEvent{}, err
	}
	s.log.Info("new version committed", "version", t.Version, "slot", t.Slot)
	s.hook(ota.BootCommitted)
	return ev, nil
}

// switchOver starts the other slot on trial, as the agent asked.
func (s *supervisor) switchOver() {
	active, other := s.boot.Active, ota.OtherSlot(s.boot.Active)
	from := s.slotVersion(active)
	si, err := s.usable(other)
	if err != nil {
		to := ""
		if si != nil {
			to = si.Version
		}
		s.boot.addLog(ota.BootEvent{Kind: ota.BootSwitchRefused, From: from, FromSlot: active, To: to, ToSlot: other,
			Reason: ota.ReasonInvalid, Detail: err.Error(), At: s.now()})
		s.saveLogged()
		s.log.Error("switch refused: the other slot cannot run", "err", err)
		s.hook(ota.BootSwitchRefused)
		return
	}
	s.boot.Trial = &Trial{Slot: other, Version: si.Version, SHA256: si.SHA256, TimeoutMS: s.trialTimeout(si).Milliseconds()}
	s.boot.addLog(ota.BootEvent{Kind: ota.BootSwitch, From: from, FromSlot: active, To: si.Version, ToSlot: other, At: s.now()})
	if err := s.save(); err != nil {
		s.log.Error("cannot persist the switch; staying on the committed slot", "err", err)
		s.boot.Trial = nil
		return
	}
	s.log.Info("switching to the new version on trial", "from", from, "to", si.Version, "slot", other)
	s.hook(ota.BootSwitch)
}

// rollback ends a failed trial: the committed slot runs again and the
// failed binary is never started again.
func (s *supervisor) rollback(reason, detail string) {
	t := s.boot.Trial
	s.boot.Trial = nil
	if t.SHA256 != "" {
		s.boot.addBad(t.SHA256)
	}
	to := s.slotVersion(s.boot.Active)
	s.boot.addLog(ota.BootEvent{Kind: ota.BootRolledBack, From: t.Version, FromSlot: t.Slot, To: to, ToSlot: s.boot.Active,
		Reason: reason, Detail: detail, At: s.now()})
	s.saveLogged()
	s.log.Warn("rolled back", "from", t.Version, "to", to, "reason", reason, "detail", detail)
	s.hook(ota.BootRolledBack)
}
