package ota

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// load reads the document and seeds the replay protection.
func (u *Updater) load() {
	d, err := u.store.Load()
	if err != nil {
		u.loadError = err
		u.log.Error("the update document is unreadable; starting from what the slots hold", "err", err)
		u.fail0(fmt.Errorf("%w: %v", ErrStateCorrupted, err))
	}
	// Whatever happened to the document, never accept less than what
	// runs or what a slot holds.
	for _, v := range []string{u.o.Version, u.boot.Version, u.other.Version} {
		if hv := versionOrZero(v); v != "" && (d.Highest == "" || hv.Compare(versionOrZero(d.Highest)) > 0) {
			if _, perr := ParseVersion(v); perr == nil {
				d.Highest = hv.String()
			}
		}
	}
	u.doc = d
	u.rec = d.Update
	u.keys = TrustedKeys(u.o.Keys, d)
	u.publish()
}

// resume reports what the supervisor did since the last run and puts an
// update cut by a restart back on its way.
func (u *Updater) resume() {
	if u.boot.Supervised {
		seen := u.doc.SeenSeq
		for _, ev := range u.boot.Log {
			if ev.Seq <= seen {
				continue
			}
			u.doc.SeenSeq = ev.Seq
			u.apply(inBoot{ev})
		}
		if u.doc.SeenSeq != seen {
			u.save()
		}
	}
	if u.rec != nil && !u.rec.State.Terminal() {
		u.apply(inResume{boot: u.boot})
	}
	u.changed() // the state document can now say where the update stands
}

// apply runs one input through the machine, persists a transition before
// anything acts on it, then carries out the effects.
func (u *Updater) apply(in any) {
	cur := Update{State: StateIdle}
	if u.rec != nil {
		cur = *u.rec
	}
	next, effs := step(cur, in)
	if u.rec == nil && next.State == StateIdle {
		u.run(effs) // events about no update of ours
		return
	}
	if next.State != cur.State {
		now := u.clock.Now()
		next.Since = now.UnixMilli()
		next.Transitions++
		if next.Transitions > MaxTransitions && !next.State.Terminal() {
			next, effs = fail(next, fmt.Errorf("%w (%d)", ErrLoop, next.Transitions))
		}
		doc := u.doc
		doc.Update = &next
		if err := u.store.Save(doc); err != nil {
			// Not persisted, so not acted on: a restart resumes from the
			// last state on disk.
			u.log.Error("cannot persist the update state; not going on", "state", next.State, "err", err)
			u.lastErr = &Failure{Code: "internal", Message: "persist " + string(next.State) + ": " + err.Error(), At: now.UnixMilli()}
			u.report("ota.failed", map[string]any{"version": next.Version, "code": "internal", "error": u.lastErr.Message, "state": string(cur.State)})
			u.publish()
			return
		}
		u.doc = doc
		u.rec = doc.Update
		u.log.Info("update state", "version", next.Version, "state", next.State, "from", cur.State)
		if next.State == StateFailed || next.State == StateRolledBack {
			u.lastErr = &Failure{Code: next.Code, Message: next.Error, At: next.Since}
			if next.Detail != "" {
				u.lastErr.Message += ": " + next.Detail
			}
		}
		u.hook("state:"+string(next.State), 0)
		u.publish()
		u.changed()
	} else {
		*u.rec = next
	}
	u.run(effs)
}

// run carries out effects.
func (u *Updater) run(effs []effect) {
	for _, e := range effs {
		switch e := e.(type) {
		case effEvent:
			u.report(e.typ, e.data)
		case effDownload:
			u.startDownload()
		case effInstall:
			u.startInstall()
		case effWaitGap:
			u.waitGap(e.deadline)
		case effSwitch:
			if u.o.Switch != nil {
				u.o.Switch()
			} else {
				u.log.Error("the update is installed but nothing can switch: Options.Switch is nil")
			}
		case effCleanup:
			if err := os.Remove(u.layout.Part()); err != nil && !errors.Is(err, os.ErrNotExist) {
				u.log.Warn("cannot remove the partial download", "err", err)
			}
			u.live.Store(0)
		}
	}
}

// drain processes inputs queued by effects.
func (u *Updater) drain() {
	for len(u.queue) > 0 {
		in := u.queue[0]
		u.queue = u.queue[1:]
		u.apply(in)
	}
}

func (u *Updater) waitGap(deadline time.Time) {
	if u.gapTimer != nil {
		u.gapTimer.Stop()
		u.gapTimer = nil
	}
	now := u.clock.Now()
	switch {
	case u.busyReason() == "":
		u.queue = append(u.queue, inGap{})
	case !deadline.IsZero() && !now.Before(deadline):
		u.queue = append(u.queue, inNoGap{})
	case !deadline.IsZero():
		u.gapTimer = u.clock.NewTimer(deadline.Sub(now))
	}
	u.log.Info("waiting for a gap in the programme to switch", "playing", u.busyReason(), "switch_by", deadline)
}

func (u *Updater) save() {
	if err := u.store.Save(u.doc); err != nil {
		u.log.Error("cannot persist the update document", "err", err)
	}
}

func (u *Updater) report(typ string, data map[string]any) {
	if u.o.Report != nil {
		u.o.Report(typ, data)
	}
}

func (u *Updater) changed() {
	if u.o.OnChange != nil {
		u.o.OnChange()
	}
}

func (u *Updater) hook(point string, n int64) {
	if u.o.Hook != nil {
		u.o.Hook(point, n)
	}
}

// fail0 records an error that is not an update's.
func (u *Updater) fail0(err error) {
	u.lastErr = &Failure{Code: Code(err), Message: err.Error(), At: u.clock.Now().UnixMilli()}
}
