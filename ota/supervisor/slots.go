package supervisor

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/loaxa/loaxa/ota"
)

// init loads boot.json; an empty data directory gets the supervisor's own
// binary as its first, committed, slot.
func (s *supervisor) init() error {
	if err := os.MkdirAll(s.l.Dir, 0o755); err != nil {
		return fmt.Errorf("supervisor: %w", err)
	}
	b, err := s.store.Load()
	if err == nil {
		s.boot = b
		return nil
	}
	detail := ""
	if !errors.Is(err, errNoBoot) {
		s.log.Error("boot document unreadable; rebuilding it from the slots", "err", err)
		detail = err.Error()
	}
	// Keep what the slots hold, highest version first; else install self.
	best := ""
	var bestInfo *ota.SlotInfo
	for _, slot := range ota.Slots {
		si, err := s.l.CheckSlot(slot, s.keys())
		if err != nil {
			continue
		}
		if bestInfo == nil || version(si.Version).Compare(version(bestInfo.Version)) > 0 {
			best, bestInfo = slot, si
		}
	}
	if bestInfo == nil {
		best = "a"
		if err := s.installSelf(best); err != nil {
			return fmt.Errorf("supervisor: install the first slot: %w", err)
		}
		bestInfo = &ota.SlotInfo{Version: s.o.Version}
	}
	s.boot = Boot{Active: best, Seq: s.boot.Seq}
	s.boot.addLog(ota.BootEvent{Kind: ota.BootInstalled, To: bestInfo.Version, ToSlot: best, Detail: detail, At: s.now()})
	if err := s.store.Save(s.boot); err != nil {
		return fmt.Errorf("supervisor: %w", err)
	}
	s.log.Info("first slot installed and committed", "slot", best, "version", bestInfo.Version)
	s.hook(ota.BootInstalled)
	return nil
}

// runSpec is what to start.
type runSpec struct {
	slot    string
	path    string
	version string
	trial   bool
	timeout time.Duration
}

// pick decides what to start, persisting the decision first.
func (s *supervisor) pick() runSpec {
	for {
		if t := s.boot.Trial; t != nil {
			if !s.restarted {
				t.Starts++
			}
			s.restarted = false
			if t.Starts > s.o.MaxTrialStarts {
				s.rollback(ota.ReasonInterrupted, fmt.Sprintf("the trial was started %d times and cut each time (power cuts or supervisor restarts)", t.Starts-1))
				continue
			}
			si, err := s.usable(t.Slot)
			if err != nil {
				s.rollback(ota.ReasonInvalid, err.Error())
				continue
			}
			if err := s.save(); err != nil {
				// The fallback cannot be armed: do not try the new thing.
				s.log.Error("cannot persist the trial; running the committed slot", "err", err)
				s.boot.Trial = nil
				continue
			}
			s.hook("trial-start")
			return runSpec{slot: t.Slot, path: s.l.Binary(t.Slot), version: si.Version, trial: true, timeout: time.Duration(t.TimeoutMS) * time.Millisecond}
		}
		active := s.boot.Active
		si, err := s.l.CheckSlot(active, s.keys())
		if err == nil {
			return runSpec{slot: active, path: s.l.Binary(active), version: si.Version}
		}
		s.log.Error("the committed slot cannot run", "slot", active, "err", err)
		from := ""
		if si != nil {
			from = si.Version
		}
		other := ota.OtherSlot(active)
		if osi, oerr := s.usable(other); oerr == nil {
			s.boot.Active, s.boot.Exits = other, nil
			s.boot.addLog(ota.BootEvent{Kind: ota.BootFallback, From: from, FromSlot: active, To: osi.Version, ToSlot: other,
				Reason: ota.ReasonInvalid, Detail: err.Error(), At: s.now()})
			s.saveLogged()
			s.hook(ota.BootFallback)
			continue
		}
		if ierr := s.installSelf(active); ierr != nil {
			s.log.Error("cannot reinstall the supervisor's binary; running it in place", "err", ierr)
			return runSpec{slot: active, path: s.o.Self, version: s.o.Version}
		}
		s.boot.addLog(ota.BootEvent{Kind: ota.BootInstalled, From: from, FromSlot: active, To: s.o.Version, ToSlot: active,
			Reason: ota.ReasonInvalid, Detail: err.Error(), At: s.now()})
		s.saveLogged()
		s.hook(ota.BootInstalled)
	}
}

// usable is CheckSlot plus "never failed a trial".
func (s *supervisor) usable(slot string) (*ota.SlotInfo, error) {
	si, err := s.l.CheckSlot(slot, s.keys())
	if err != nil {
		return si, err
	}
	if s.boot.isBad(si.SHA256) {
		return si, fmt.Errorf("slot %s (%s) failed a trial before", slot, si.Version)
	}
	return si, nil
}

func (s *supervisor) keys() []ota.PublicKey {
	if len(s.o.Keys) == 0 {
		return nil
	}
	return ota.LoadTrustedKeys(s.l, s.o.Keys)
}

func (s *supervisor) trialTimeout(si *ota.SlotInfo) time.Duration {
	if sg, err := ota.ParseSigned(si.Signed); err == nil && sg.Manifest.Trial > 0 {
		return sg.Manifest.Trial
	}
	return s.o.Trial
}

func (s *supervisor) slotVersion(slot string) string {
	si, err := s.l.ReadSlotInfo(slot)
	if err != nil {
		return ""
	}
	return si.Version
}

// installSelf copies the supervisor's own binary into a slot, then its
// slot.json.
func (s *supervisor) installSelf(slot string) error {
	dir := s.l.SlotDir(slot)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.Remove(s.l.SlotInfoPath(slot)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	src, err := os.Open(s.o.Self)
	if err != nil {
		return err
	}
	defer src.Close()
	tmp, err := os.CreateTemp(dir, ".loaxad.tmp-*")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := io.Copy(tmp, src); err != nil {
		return fmt.Errorf("copy %s: %w", s.o.Self, err)
	}
	if err := tmp.Chmod(0o755); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), s.l.Binary(slot)); err != nil {
		return err
	}
	ok = true
	if err := ota.SyncDir(dir); err != nil {
		return err
	}
	if err := ota.SyncDir(filepath.Dir(dir)); err != nil {
		return err
	}
	size, sum, err := ota.HashFile(s.l.Binary(slot))
	if err != nil {
		return err
	}
	return s.l.WriteSlotInfo(slot, &ota.SlotInfo{Version: s.o.Version, Size: size, SHA256: sum, Origin: ota.OriginFactory, Installed: s.now()})
}

func version(s string) ota.Version {
	v, err := ota.ParseVersion(s)
	if err != nil {
		return ota.Version{}
	}
	return v
}
