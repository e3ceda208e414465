package ota

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/loaxa/loaxa/internal/atomicfile"
)

// DocVersion is the format of Doc this package writes.
//
// Migration rule: fields keep their meaning forever and new ones are only
// added, so a reader of any version can read a document of any other. A
// document with a smaller V is migrated by migrate; one with a larger V
// (written by a newer release that was then rolled back) is read for the
// fields this version knows and rewritten at DocVersion, which keeps the
// replay protection (Highest) and the trusted keys.
const DocVersion = 1

// Doc is the updater's persistent document (update.json).
type Doc struct {
	V int `json:"v"`
	// Highest is the highest release version ever accepted: no manifest
	// at or below it is accepted again (downgrade and replay protection).
	Highest string `json:"highest,omitempty"`
	// Trust is the key list adopted from a signed release, if any.
	Trust *Trust `json:"trust,omitempty"`
	// SeenSeq is the supervisor log sequence already reported as events.
	SeenSeq uint64 `json:"seen_seq,omitempty"`
	// Update is the update in progress, or the last one.
	Update *Update `json:"update,omitempty"`
}

// Trust is a signing-key list that a signed release brought.
type Trust struct {
	// ConfigKeys fingerprints the ota.keys in force when the list was
	// adopted. When a technician changes ota.keys, the configuration wins
	// again and this list is dropped.
	ConfigKeys string `json:"config_keys"`
	// Keys are the trusted keys, base64.
	Keys []string `json:"keys"`
	// Version is the release that brought the list.
	Version string `json:"version"`
}

// Update is the record of one update: the state machine's state and
// what it needs to go on after a restart.
type Update struct {
	State StateName `json:"state"`
	// ID is Manifest.ID; Version the release's version.
	ID      string `json:"id"`
	Version string `json:"version"`
	// Slot is the slot being written (the inactive one at acceptance).
	Slot string `json:"slot"`
	// Signed is the signed manifest as received.
	Signed json.RawMessage `json:"signed"`
	// URL is the index of the URL in use; Offset the bytes of
	// download.part known to be on disk (fsynced).
	URL    int   `json:"url,omitempty"`
	Offset int64 `json:"offset,omitempty"`
	Size   int64 `json:"size"`
	// Accepted and Since are ms epoch: when the manifest was accepted and
	// when the current state was entered.
	Accepted int64 `json:"accepted"`
	Since    int64 `json:"since"`
	// Transitions counts persisted transitions: an update that loops
	// (mender's StateDataStoreCount) is stopped.
	Transitions int `json:"transitions"`
	// Code, Error and Detail say why an update failed or was rolled back.
	Code   string `json:"code,omitempty"`
	Error  string `json:"error,omitempty"`
	Detail string `json:"detail,omitempty"`
	// FailedIn is the state a failed update was in.
	FailedIn StateName `json:"failed_in,omitempty"`
}

// Store keeps the updater's document. Save must be atomic: after a power
// cut, Load returns the last document saved in full.
type Store interface {
	Load() (Doc, error)
	Save(Doc) error
}

// FileStore is a Store in one JSON file written with internal/atomicfile.
type FileStore struct{ Path string }

// Load reads the document. A missing file is an empty document. An
// unreadable one is moved aside (PATH.corrupt) and reported with
// ErrStateCorrupted, with an empty document.
func (s FileStore) Load() (Doc, error) {
	b, err := os.ReadFile(s.Path)
	if errors.Is(err, os.ErrNotExist) {
		return Doc{V: DocVersion}, nil
	}
	if err != nil {
		return Doc{V: DocVersion}, fmt.Errorf("read %s: %w", s.Path, err)
	}
	var d Doc
	if err := json.Unmarshal(b, &d); err != nil {
		aside := s.Path + ".corrupt"
		if rerr := os.Rename(s.Path, aside); rerr != nil {
			return Doc{V: DocVersion}, fmt.Errorf("%w: %s: %v (and moving it aside failed: %v)", ErrStateCorrupted, s.Path, err, rerr)
		}
		return Doc{V: DocVersion}, fmt.Errorf("%w: %s: %v; moved to %s", ErrStateCorrupted, s.Path, err, aside)
	}
	return migrate(d), nil
}

// Save writes the document atomically; an unchanged document is not
// written again (flash wears).
func (s FileStore) Save(d Doc) error {
	d.V = DocVersion
	b, err := json.MarshalIndent(d, "", " ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dirOf(s.Path), 0o755); err != nil {
		return err
	}
	_, err = atomicfile.WriteFile(s.Path, append(b, '\n'), 0o644)
	return err
}

func migrate(d Doc) Doc {
	if d.V == 0 { // no version field: the first development format, same fields
		d.V = 1
	}
	d.V = DocVersion
	return d
}

func dirOf(p string) string {
	i := strings.LastIndexByte(p, os.PathSeparator)
	if i <= 0 {
		return "."
	}
	return p[:i]
}

// KeysFingerprint identifies a key list independently of its order.
func KeysFingerprint(keys []PublicKey) string {
	ids := make([]string, 0, len(keys))
	for _, k := range keys {
		ids = append(ids, k.KeyID())
	}
	slices.Sort(ids)
	sum := sha256.Sum256([]byte(strings.Join(ids, ",")))
	return hex.EncodeToString(sum[:8])
}

// TrustedKeys is the key list a pole verifies manifests with: the list a
// signed release brought (Doc.Trust), unless ota.keys changed since it was
// adopted, in which case ota.keys (the technician's word wins).
func TrustedKeys(configKeys []PublicKey, d Doc) []PublicKey {
	if d.Trust != nil && d.Trust.ConfigKeys == KeysFingerprint(configKeys) {
		if keys, err := ParsePublicKeys(d.Trust.Keys); err == nil && len(keys) > 0 {
			return keys
		}
	}
	return configKeys
}

// LoadTrustedKeys is TrustedKeys from the document on disk, for the
// supervisor, which verifies slots with the keys the agent trusts.
func LoadTrustedKeys(l Layout, configKeys []PublicKey) []PublicKey {
	d, err := FileStore{Path: l.UpdateDoc()}.loadQuiet()
	if err != nil {
		return configKeys
	}
	return TrustedKeys(configKeys, d)
}

// loadQuiet reads without moving a corrupt file aside: the supervisor
// must not touch the agent's file.
func (s FileStore) loadQuiet() (Doc, error) {
	b, err := os.ReadFile(s.Path)
	if err != nil {
		return Doc{}, err
	}
	var d Doc
	if err := json.Unmarshal(b, &d); err != nil {
		return Doc{}, err
	}
	return d, nil
}
