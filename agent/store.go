package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/loaxa/loaxa/internal/atomicfile"
)

// storeVersion is the schema version of state.json.
const storeVersion = 1

// recentAcks is how many answered command ids are remembered (and
// persisted) so a redelivered command is answered again, not re-executed.
const recentAcks = 256

// persisted is what the agent keeps in DATA_DIR/state.json across restarts
// and power cuts.
type persisted struct {
	Version int             `json:"version"`
	Zones   map[string]bool `json:"zones"`
	Volume  int             `json:"volume"`
	// Acks are the most recent answers, oldest first.
	Acks []recentAck `json:"acks"`
}

type recentAck struct {
	ID  string          `json:"id"`
	Ack json.RawMessage `json:"ack"`
}

// defaultVolume is the master volume of a new pole.
const defaultVolume = 60

func statePath(dataDir string) string { return filepath.Join(dataDir, "state.json") }

// loadState reads state.json. A missing file is a first start. A corrupt
// one is moved aside (for a post-mortem) and reported; the agent then starts
// from defaults instead of refusing to run.
func loadState(dataDir string) (p persisted, warning error) {
	p = persisted{Version: storeVersion, Zones: map[string]bool{}, Volume: defaultVolume}
	path := statePath(dataDir)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return p, fmt.Errorf("read %s: %w", path, err)
	}
	var got persisted
	if err := json.Unmarshal(data, &got); err != nil || got.Version < 1 || got.Version > storeVersion || got.Volume < 0 || got.Volume > 100 {
		aside := path + ".corrupt"
		os.Rename(path, aside)
		if err == nil {
			err = fmt.Errorf("version %d, volume %d out of range", got.Version, got.Volume)
		}
		return p, fmt.Errorf("%s is unreadable (%v); moved to %s, starting from defaults", path, err, aside)
	}
	if got.Zones == nil {
		got.Zones = map[string]bool{}
	}
	return got, nil
}

func saveState(dataDir string, p persisted) error {
	p.Version = storeVersion
	// Not indented: acks are stored verbatim and must be re-sent byte for byte.
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	_, err = atomicfile.WriteFile(statePath(dataDir), data, 0o644)
	return err
}
