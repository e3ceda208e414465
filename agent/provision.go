package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"

	"github.com/loaxa/loaxa/agent/config"
	"github.com/loaxa/loaxa/agent/console"
	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/internal/atomicfile"
)

// Provisioning and factory reset, shared by the console backend of a
// running agent and by BlankConsole (a board whose agent cannot start).
// Provisioning goes in three steps so that a bad document changes nothing:
// prepareProvision checks everything without touching the disk,
// installCredentials writes the certificate files under names of their
// own (never over the files in force), and commitProvision saves the
// configuration atomically. pruneCredentials then removes the files no
// configuration names any more.

// credentialsDir is where provisioned certificate files live.
func credentialsDir(dataDir string) string { return filepath.Join(dataDir, "credentials") }

// prepareProvision builds the configuration a provisioning document asks
// for, over the defaults, and checks it. data_dir stays that of the
// running pole (where its data is), and so do console.port and
// console.baud unless the document names them; keys pinned on the command
// line must not change. Files are given placeholder paths until
// installed. Errors are bad_args and name the key.
func prepareProvision(cur *config.Config, p console.Provisioning, pinned map[string]string) (*config.Config, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(p.Config, &top); err != nil || top == nil {
		return nil, wire.Errf(wire.CodeBadArgs, "config: must be the whole configuration as a JSON object")
	}
	if raw, ok := top["data_dir"]; ok {
		var dir string
		if json.Unmarshal(raw, &dir) != nil || dir != cur.DataDir {
			return nil, wire.Errf(wire.CodeBadArgs, "config: key data_dir: fixed at install (%s); leave it out", cur.DataDir)
		}
	}
	next, err := config.FromJSON(p.Config)
	if err != nil {
		return nil, wire.Errf(wire.CodeBadArgs, "config: %v", err)
	}
	if !wire.ValidID(next.ID) {
		return nil, wire.Errf(wire.CodeBadArgs, "config: key id: the pole's device id is required (3-64 chars of a-z, 0-9, '-')")
	}
	next.DataDir = cur.DataDir
	// The console's port and speed are the cable the technician is on:
	// left out, they stay, or the console would be gone after the restart.
	var con map[string]json.RawMessage
	json.Unmarshal(top["console"], &con)
	if _, ok := con["port"]; !ok {
		next.Console.Port = cur.Console.Port
	}
	if _, ok := con["baud"]; !ok {
		next.Console.Baud = cur.Console.Baud
	}
	for k := range p.Files {
		if err := setFileKey(next, k, "/provisioning/"+k); err != nil {
			return nil, wire.Errf(wire.CodeBadArgs, "files: %v", err)
		}
	}
	if err := next.Validate(); err != nil {
		return nil, wire.Errf(wire.CodeBadArgs, "config: %v", err)
	}
	flat := next.Flatten(false)
	for _, k := range slices.Sorted(maps.Keys(pinned)) {
		if got := fmt.Sprint(flat[k]); got != pinned[k] {
			return nil, wire.Errf(wire.CodeBadArgs, "config: key %s: this agent runs with %s set on its command line (%s), which would override %q at the restart; start it without that flag to provision another value", k, k, pinned[k], got)
		}
	}
	return next, nil
}

// setFileKey sets the configuration key that names a provisioned file.
func setFileKey(c *config.Config, key, path string) error {
	switch key {
	case "mqtt.ca_file":
		c.MQTT.CAFile = path
	case "mqtt.cert_file":
		c.MQTT.CertFile = path
	case "mqtt.key_file":
		c.MQTT.KeyFile = path
	default:
		return fmt.Errorf("%q is not a file key", key)
	}
	return nil
}

// installCredentials writes the document's files into the credentials
// directory (console.InstallFiles: content-addressed, 0600, atomic) and
// points next at them.
func installCredentials(next *config.Config, files map[string][]byte) error {
	if len(files) == 0 {
		return nil
	}
	paths, err := console.InstallFiles(credentialsDir(next.DataDir), files)
	if err != nil {
		return wire.Errf(wire.CodeInternal, "cannot install the credentials: %v; nothing changed", err)
	}
	for k, p := range paths {
		if err := setFileKey(next, k, p); err != nil {
			return wire.Errf(wire.CodeInternal, "%v", err)
		}
	}
	return nil
}

// commitProvision saves next over cur and returns the keys whose value
// changed (names only: values may be secrets).
func commitProvision(path string, cur, next *config.Config) ([]string, error) {
	changed := changedKeys(cur, next)
	if len(changed) == 0 {
		return changed, nil
	}
	if err := next.Save(path); err != nil {
		return nil, wire.Errf(wire.CodeInternal, "cannot save the configuration (%v); nothing changed", err)
	}
	return changed, nil
}

// changedKeys lists the dotted keys whose value differs, sorted.
func changedKeys(a, b *config.Config) []string {
	x, y := a.Flatten(true), b.Flatten(true)
	changed := []string{}
	for k, v := range y {
		if w, ok := x[k]; !ok || !reflect.DeepEqual(v, w) {
			changed = append(changed, k)
		}
	}
	for k := range x {
		if _, ok := y[k]; !ok {
			changed = append(changed, k)
		}
	}
	slices.Sort(changed)
	return changed
}

// pruneCredentials removes the provisioned files that neither the
// configurations in keep nor the last broker settings that connected (the
// fallback's, which may be brought back) name. A failure only leaves files
// behind: logged by nobody, retried at the next provisioning.
func pruneCredentials(dataDir string, keep ...*config.Config) {
	var paths []string
	for _, c := range keep {
		paths = append(paths, c.MQTT.CAFile, c.MQTT.CertFile, c.MQTT.KeyFile)
	}
	if good, ok := loadGood(dataDir); ok {
		paths = append(paths, good.CAFile, good.CertFile, good.KeyFile)
	}
	_ = console.PruneFiles(credentialsDir(dataDir), paths)
}

// factoryResetMarker, in the data directory, says a factory reset was
// asked for and is not finished.
const factoryResetMarker = "factory-reset.json"

// keptByReset are the entries of the data directory a factory reset keeps:
// the updater's slots hold the firmware that runs (and the one it falls
// back to), which is not data.
var keptByReset = []string{factoryResetMarker, "ota"}

type resetMarker struct {
	Version    int    `json:"version"`
	ConfigPath string `json:"config_path"`
}

// beginFactoryReset records that a factory reset must be carried out.
func beginFactoryReset(dataDir, configPath string) error {
	b, _ := json.Marshal(resetMarker{Version: 1, ConfigPath: configPath})
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return wire.Errf(wire.CodeInternal, "cannot prepare the factory reset: %v; nothing changed", err)
	}
	if _, err := atomicfile.WriteFile(filepath.Join(dataDir, factoryResetMarker), b, 0o600); err != nil {
		return wire.Errf(wire.CodeInternal, "cannot prepare the factory reset: %v; nothing changed", err)
	}
	return nil
}

// FinishFactoryReset carries out a factory reset asked for on the console,
// if one is pending in dataDir: the configuration file at configPath goes
// back to the defaults (keeping data_dir: a blank board again, no id, no
// console password), and every entry of the data directory except the
// updater's goes. The daemon calls it at start, before anything opens the
// data directory, and loads the configuration again when it reports done.
// A power cut half-way leaves the marker, so the next start finishes it.
func FinishFactoryReset(dataDir, configPath string) (done bool, err error) {
	marker := filepath.Join(dataDir, factoryResetMarker)
	if _, err := os.Stat(marker); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	def := config.Default()
	def.DataDir = dataDir
	if err := def.Save(configPath); err != nil {
		return false, fmt.Errorf("factory reset: %w", err)
	}
	entries, err := os.ReadDir(dataDir)
	if err != nil {
		return false, fmt.Errorf("factory reset: %w", err)
	}
	cfgAbs, _ := filepath.Abs(configPath)
	var errs []error
	for _, e := range entries {
		p := filepath.Join(dataDir, e.Name())
		if abs, _ := filepath.Abs(p); slices.Contains(keptByReset, e.Name()) || abs == cfgAbs {
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return false, fmt.Errorf("factory reset: %w", err)
	}
	if err := os.Remove(marker); err != nil {
		return false, fmt.Errorf("factory reset: %w", err)
	}
	if err := syncDir(dataDir); err != nil {
		return true, fmt.Errorf("factory reset: %w", err)
	}
	return true, nil
}

// syncDir makes the removals in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
