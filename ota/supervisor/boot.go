package supervisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/loaxa/loaxa/internal/atomicfile"
	"github.com/loaxa/loaxa/ota"
)

// BootVersion is the format of Boot this package writes. Fields keep
// their meaning and are only added (the rule of ota.DocVersion), so an
// older supervisor reads a newer document for what it knows.
const BootVersion = 1

// Limits on the boot document, which must not grow.
const (
	maxLog = 16
	maxBad = 8
)

// Boot is the supervisor's persistent document (boot.json). It is written
// before every decision is acted on: a power cut at any point finds the
// fallback armed.
type Boot struct {
	V int `json:"v"`
	// Active is the committed slot: what runs when no trial is under way,
	// and what a failed trial goes back to.
	Active string `json:"active"`
	// Trial is the slot on trial, if any.
	Trial *Trial `json:"trial,omitempty"`
	// Bad are the SHA-256 of binaries that failed a trial: never started
	// again, neither by a switch nor by a fallback.
	Bad []string `json:"bad,omitempty"`
	// Exits are the times (ms epoch) of the recent unexpected exits of the
	// active slot, for crash-loop detection.
	Exits []int64 `json:"exits,omitempty"`
	// Seq numbers the log; Log holds the last events, oldest first.
	Seq uint64          `json:"seq"`
	Log []ota.BootEvent `json:"log,omitempty"`
}

// Trial is a slot on trial.
type Trial struct {
	Slot    string `json:"slot"`
	Version string `json:"version"`
	SHA256  string `json:"sha256"`
	// Starts counts the starts of this trial, incremented and persisted
	// before each start: a trial cut by power cuts is given up after
	// Options.MaxTrialStarts.
	Starts int `json:"starts"`
	// TimeoutMS is how long the version has to report healthy.
	TimeoutMS int64 `json:"timeout_ms"`
	// Fallback is true when the trial is a fallback from a crash loop
	// rather than an update.
	Fallback bool `json:"fallback,omitempty"`
}

// Store keeps the boot document; Save must be atomic.
type Store interface {
	Load() (Boot, error)
	Save(Boot) error
}

// errNoBoot is Load's answer for an empty data directory.
var errNoBoot = errors.New("no boot document")

// FileStore is a Store in one JSON file written with internal/atomicfile.
type FileStore struct{ Path string }

// Load reads the document; a missing file is errNoBoot, an unreadable
// one is moved aside (PATH.corrupt) and reported.
func (s FileStore) Load() (Boot, error) {
	b, err := os.ReadFile(s.Path)
	if errors.Is(err, os.ErrNotExist) {
		return Boot{}, errNoBoot
	}
	if err != nil {
		return Boot{}, err
	}
	var d Boot
	if err := json.Unmarshal(b, &d); err != nil || !ota.ValidSlot(d.Active) {
		if err == nil {
			err = fmt.Errorf("active slot %q", d.Active)
		}
		aside := s.Path + ".corrupt"
		_ = os.Rename(s.Path, aside)
		return Boot{}, fmt.Errorf("%s is unreadable (%v); moved to %s", s.Path, err, aside)
	}
	return d, nil
}

// Save writes the document atomically.
func (s FileStore) Save(d Boot) error {
	d.V = BootVersion
	b, err := json.MarshalIndent(d, "", " ")
	if err != nil {
		return err
	}
	_, err = atomicfile.WriteFile(s.Path, append(b, '\n'), 0o644)
	return err
}

// addLog appends an event, numbering it and keeping the log bounded.
func (b *Boot) addLog(ev ota.BootEvent) ota.BootEvent {
	b.Seq++
	ev.Seq = b.Seq
	b.Log = append(b.Log, ev)
	if len(b.Log) > maxLog {
		b.Log = append([]ota.BootEvent(nil), b.Log[len(b.Log)-maxLog:]...)
	}
	return ev
}

func (b *Boot) addBad(sha string) {
	for _, s := range b.Bad {
		if s == sha {
			return
		}
	}
	b.Bad = append(b.Bad, sha)
	if len(b.Bad) > maxBad {
		b.Bad = append([]string(nil), b.Bad[len(b.Bad)-maxBad:]...)
	}
}

func (b *Boot) isBad(sha string) bool {
	for _, s := range b.Bad {
		if s == sha {
			return true
		}
	}
	return false
}
