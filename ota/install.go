package ota

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// install moves the verified download into the slot: the binary first
// (chmod +x, fsync, rename, fsync the directories), then its slot.json,
// which is what makes the slot usable. It is idempotent, so a restart in
// StateDownloaded simply runs it again.
func install(l Layout, rec Update, arch string, now time.Time) error {
	s, err := ParseSigned(rec.Signed)
	if err != nil {
		return err
	}
	m := &s.Manifest
	dir, bin := l.SlotDir(rec.Slot), l.Binary(rec.Slot)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("%w: create %s: %w", ErrDownload, dir, diskErr(err))
	}
	if err := SyncDir(dir + "/.."); err != nil {
		return err
	}
	part := l.Part()
	if _, err := os.Stat(part); err == nil {
		// Checked again: a power cut since the download may have left
		// the file short, and this is the last look before it can run.
		if err := FileMatches(part, m.Size, m.SHA256); err != nil {
			return err
		}
		if err := CheckELF(part, arch); err != nil {
			return err
		}
		if err := os.Chmod(part, 0o755); err != nil {
			return err
		}
		if err := syncFile(part); err != nil {
			return err
		}
		// The slot stops being usable before its binary changes.
		if err := os.Remove(l.SlotInfoPath(rec.Slot)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if err := SyncDir(dir); err != nil {
			return err
		}
		if err := os.Rename(part, bin); err != nil {
			return fmt.Errorf("install %s: %w", bin, diskErr(err))
		}
		if err := SyncDir(dir); err != nil {
			return err
		}
		if err := SyncDir(l.Dir); err != nil {
			return err
		}
	} else if err := FileMatches(bin, m.Size, m.SHA256); err != nil {
		return fmt.Errorf("%w: the verified download is gone and slot %s does not hold it (%v)", ErrDownload, rec.Slot, err)
	}
	return l.WriteSlotInfo(rec.Slot, &SlotInfo{
		Version: m.Version.String(), Size: m.Size, SHA256: m.SHA256, Origin: OriginOTA,
		Signed: rec.Signed, Installed: now.UnixMilli(),
	})
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
