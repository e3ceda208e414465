package ota

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// submit verifies a manifest and, if it is accepted, persists it before
// answering.
func (u *Updater) submit(ctx context.Context, raw []byte) (Accepted, error) {
	if !u.boot.Supervised || !ValidSlot(u.boot.Slot) {
		return Accepted{}, fmt.Errorf("%w: start the agent with `loaxad supervise` (the systemd unit does) to update it over the air", ErrUnsupervised)
	}
	if u.boot.Trial {
		return Accepted{}, fmt.Errorf("%w: %s runs on trial; try again once it is committed", ErrBusy, u.boot.Version)
	}
	if u.rec != nil && (u.rec.State == StateSwitching || u.rec.State == StateTrial) {
		return Accepted{}, fmt.Errorf("%w: %s is %s", ErrBusy, u.rec.Version, u.rec.State)
	}
	s, err := Verify(raw, Policy{
		Keys: u.keys, Arch: u.o.Arch, Running: u.o.Version, Highest: u.doc.Highest,
		Now: u.clock.Now(), MaxSkew: u.o.MaxSkew, MaxSize: u.o.MaxSize,
	})
	retry := false
	if errors.Is(err, ErrReplay) && u.rec != nil && u.rec.ID == s.Manifest.ID() {
		if !u.rec.State.Terminal() {
			return Accepted{Version: u.rec.Version, State: u.rec.State, Resumed: true}, nil
		}
		if retryable(u.rec) {
			retry, err = true, nil
		}
	}
	if err != nil {
		return Accepted{}, err
	}
	m := &s.Manifest
	if err := u.checkSpace(m.Size); err != nil {
		return Accepted{}, err
	}
	// The new release replaces whatever update was under way (an older
	// one: Verify saw to that), and its wait for a gap.
	u.stopUpdateWorkers()
	if u.gapTimer != nil {
		u.gapTimer.Stop()
		u.gapTimer = nil
	}
	if u.rec != nil && !retry && u.rec.ID != m.ID() {
		if err := os.Remove(u.layout.Part()); err != nil && !errors.Is(err, os.ErrNotExist) {
			return Accepted{}, fmt.Errorf("remove the previous partial download: %w", err)
		}
		u.live.Store(0)
	}
	now := u.clock.Now().UnixMilli()
	rec := &Update{
		State: StateVerified, ID: m.ID(), Version: m.Version.String(), Slot: OtherSlot(u.boot.Slot),
		Signed: append([]byte(nil), raw...), Size: m.Size, Accepted: now, Since: now,
	}
	if retry {
		rec.Offset, rec.URL = u.rec.Offset, u.rec.URL
	}
	doc := u.doc
	doc.Update = rec
	if v := m.Version.String(); doc.Highest == "" || m.Version.Compare(versionOrZero(doc.Highest)) > 0 {
		doc.Highest = v
	}
	if len(m.Keys) > 0 {
		ks := make([]string, 0, len(m.Keys))
		for _, k := range m.Keys {
			ks = append(ks, k.String())
		}
		doc.Trust = &Trust{ConfigKeys: KeysFingerprint(u.o.Keys), Keys: ks, Version: rec.Version}
	}
	if err := u.store.Save(doc); err != nil {
		return Accepted{}, fmt.Errorf("persist the accepted manifest: %w", err)
	}
	u.doc, u.rec = doc, doc.Update
	if len(m.Keys) > 0 {
		u.keys = TrustedKeys(u.o.Keys, doc)
		u.log.Info("signing keys rotated by a signed release", "version", rec.Version, "keys", len(m.Keys))
	}
	u.lastErr = nil
	u.pctShown = -1
	u.log.Info("release accepted", "version", rec.Version, "size", m.Size, "slot", rec.Slot, "retry", retry)
	u.hook("state:"+string(StateVerified), 0)
	u.publish()
	u.changed()
	u.queue = append(u.queue, inAccepted{})
	return Accepted{Version: rec.Version, State: StateVerified, Resumed: retry}, nil
}

// reserveBytes is left free on the data partition besides the download:
// the agent's state, logs and the journal must still be writable.
const reserveBytes = 8 << 20

// checkSpace refuses a release the data partition cannot hold, before
// anything is written.
func (u *Updater) checkSpace(size int64) error {
	if err := os.MkdirAll(u.layout.Dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", u.layout.Dir, diskErr(err))
	}
	free, err := u.o.FreeSpace(u.layout.Dir)
	if err != nil {
		return nil // unknown: the write itself will tell
	}
	var have int64
	if fi, err := os.Stat(u.layout.Part()); err == nil {
		have = fi.Size()
	}
	need := size - have + reserveBytes
	if int64(free) < need {
		return fmt.Errorf("%w: the release needs %d MiB on the data partition, %d MiB are free; nothing was changed",
			ErrDiskFull, (need+(1<<20)-1)>>20, free>>20)
	}
	return nil
}
