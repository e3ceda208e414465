package ota

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/loaxa/loaxa/internal/atomicfile"
)

// Layout is where the updater and the supervisor keep their files, under
// DATA_DIR/ota (one file system, so renames are atomic):
//
//	update.json        the updater's document (Doc), written only by the agent
//	boot.json          the supervisor's document, written only by the supervisor
//	download.part      the download in progress
//	slots/a/loaxad     slot a's binary
//	slots/a/slot.json  what slot a holds (SlotInfo), written after the binary
//	slots/b/...        slot b
type Layout struct{ Dir string }

// NewLayout returns the layout under a data directory.
func NewLayout(dataDir string) Layout { return Layout{Dir: filepath.Join(dataDir, "ota")} }

// Slots are the two slot names.
var Slots = [2]string{"a", "b"}

// OtherSlot returns the slot that is not s.
func OtherSlot(s string) string {
	if s == "a" {
		return "b"
	}
	return "a"
}

// ValidSlot reports whether s names a slot.
func ValidSlot(s string) bool { return s == "a" || s == "b" }

// UpdateDoc is the updater's state document.
func (l Layout) UpdateDoc() string { return filepath.Join(l.Dir, "update.json") }

// BootDoc is the supervisor's state document.
func (l Layout) BootDoc() string { return filepath.Join(l.Dir, "boot.json") }

// Part is the partial download.
func (l Layout) Part() string { return filepath.Join(l.Dir, "download.part") }

// SlotDir is a slot's directory.
func (l Layout) SlotDir(slot string) string { return filepath.Join(l.Dir, "slots", slot) }

// Binary is a slot's executable.
func (l Layout) Binary(slot string) string { return filepath.Join(l.SlotDir(slot), "loaxad") }

// SlotInfoPath is a slot's description.
func (l Layout) SlotInfoPath(slot string) string { return filepath.Join(l.SlotDir(slot), "slot.json") }

// SlotInfo says what a slot holds. It is written after the binary, so a
// slot whose binary does not match its SlotInfo is being written or was
// torn by a power cut, and is not used.
type SlotInfo struct {
	V       int    `json:"v"`
	Version string `json:"version"`
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256"`
	// Origin is "factory" (the supervisor installed its own binary) or
	// "ota" (a signed release).
	Origin string `json:"origin"`
	// Signed is the signed manifest of an "ota" slot, as received.
	Signed json.RawMessage `json:"signed,omitempty"`
	// Installed is when the slot was written (ms epoch).
	Installed int64 `json:"installed"`
}

// Origins of a slot.
const (
	OriginFactory = "factory"
	OriginOTA     = "ota"
)

// ReadSlotInfo reads a slot's description.
func (l Layout) ReadSlotInfo(slot string) (*SlotInfo, error) {
	b, err := os.ReadFile(l.SlotInfoPath(slot))
	if err != nil {
		return nil, err
	}
	var si SlotInfo
	if err := json.Unmarshal(b, &si); err != nil {
		return nil, fmt.Errorf("slot %s: %s: %w", slot, l.SlotInfoPath(slot), err)
	}
	return &si, nil
}

// WriteSlotInfo writes a slot's description atomically.
func (l Layout) WriteSlotInfo(slot string, si *SlotInfo) error {
	si.V = 1
	b, err := json.Marshal(si)
	if err != nil {
		return err
	}
	_, err = atomicfile.WriteFile(l.SlotInfoPath(slot), append(b, '\n'), 0o644)
	return err
}

// CheckSlot tells whether a slot holds a usable version: its description
// reads, its binary has the size and SHA-256 described, and, for an "ota"
// slot when keys are given, its manifest is signed by one of them and
// describes that binary. Expiry is not checked: a release installed while
// valid stays usable. It returns the description, or why the slot is not
// usable.
func (l Layout) CheckSlot(slot string, keys []PublicKey) (*SlotInfo, error) {
	si, err := l.ReadSlotInfo(slot)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("slot %s is empty", slot)
		}
		return nil, err
	}
	if err := FileMatches(l.Binary(slot), si.Size, si.SHA256); err != nil {
		return si, fmt.Errorf("slot %s (%s): %w", slot, si.Version, err)
	}
	if si.Origin == OriginOTA && keys != nil {
		s, err := ParseSigned(si.Signed)
		if err != nil {
			return si, fmt.Errorf("slot %s (%s): %w", slot, si.Version, err)
		}
		if err := verifySignatures(s, keys); err != nil {
			return si, fmt.Errorf("slot %s (%s): %w", slot, si.Version, err)
		}
		m := &s.Manifest
		if m.Size != si.Size || m.SHA256 != si.SHA256 || m.Version.String() != si.Version {
			return si, fmt.Errorf("slot %s (%s): its manifest describes another binary", slot, si.Version)
		}
	}
	return si, nil
}

// FileMatches checks a file's size and SHA-256 (lower-case hex).
func FileMatches(path string, size int64, sha string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() != size {
		return fmt.Errorf("%w: %s is %d bytes, expected %d", ErrSizeMismatch, path, fi.Size(), size)
	}
	got, err := hashReader(f)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if got != sha {
		return fmt.Errorf("%w: %s has sha256 %s, expected %s", ErrHashMismatch, path, got, sha)
	}
	return nil
}

// HashFile returns a file's size and hex SHA-256.
func HashFile(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", fmt.Errorf("read %s: %w", path, err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

func hashReader(r io.Reader) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// elfMachines maps an architecture to the ELF e_machine of its binaries.
var elfMachines = map[string]uint16{
	"386": 3, "amd64": 62, "arm64": 183, "riscv64": 243,
	"armv5": 40, "armv6": 40, "armv7": 40,
}

func machineName(m uint16) string {
	switch m {
	case 3:
		return "386"
	case 62:
		return "amd64"
	case 183:
		return "arm64"
	case 243:
		return "riscv64"
	case 40:
		return "32-bit arm"
	}
	return fmt.Sprintf("ELF machine %d", m)
}

// CheckELF refuses a file that is not an ELF executable for arch, so a
// release signed for the wrong board is caught before the pole restarts
// into it. Architectures it does not know pass.
func CheckELF(path, arch string) error {
	want, known := elfMachines[arch]
	if !known {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var h [20]byte
	if _, err := io.ReadFull(f, h[:]); err != nil || !bytes.Equal(h[:4], []byte("\x7fELF")) {
		return fmt.Errorf("%w: the binary is not an ELF executable", ErrWrongArch)
	}
	var machine uint16
	switch h[5] {
	case 1: // little-endian
		machine = uint16(h[18]) | uint16(h[19])<<8
	case 2:
		machine = uint16(h[18])<<8 | uint16(h[19])
	}
	if machine != want {
		return fmt.Errorf("%w: the binary is an ELF executable for %s, not for %s", ErrWrongArch, machineName(machine), arch)
	}
	return nil
}

// SyncDir fsyncs a directory, making a rename or a new file in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}
