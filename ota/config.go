package ota

import (
	"fmt"
	"time"
)

// Config is the [ota] section of the pole's configuration. The agent's
// configuration embeds it; Validate names each bad key.
type Config struct {
	// Keys are the trusted release-signing keys (ed25519 public keys, hex
	// or base64). Several, so keys can rotate. Empty: the pole accepts no
	// update. Fixed: set by the technician, never over MQTT (whoever can
	// set it can sign releases).
	Keys []string `toml:"keys" json:"keys"`
	// TrialS is how long a new version has to report healthy (a
	// manifest's trial_s overrides it).
	TrialS int `toml:"trial_s" json:"trial_s"`
	// MaxSizeMB bounds the release binary (MiB).
	MaxSizeMB int `toml:"max_size_mb" json:"max_size_mb"`
	// StallS cuts a download that receives nothing for this long.
	StallS int `toml:"stall_s" json:"stall_s"`
	// CrashLoopExits exits within CrashLoopWindowS of a committed version
	// make the supervisor fall back to the other slot.
	CrashLoopExits   int `toml:"crash_loop_exits" json:"crash_loop_exits"`
	CrashLoopWindowS int `toml:"crash_loop_window_s" json:"crash_loop_window_s"`
}

// Defaults and bounds of Config.
const (
	DefaultTrialS           = 120
	DefaultMaxSizeMB        = 128
	DefaultStallS           = 60
	DefaultCrashLoopExits   = 5
	DefaultCrashLoopWindowS = 600
)

// DefaultConfig is the configuration of a pole that says nothing.
func DefaultConfig() Config {
	return Config{
		TrialS: DefaultTrialS, MaxSizeMB: DefaultMaxSizeMB, StallS: DefaultStallS,
		CrashLoopExits: DefaultCrashLoopExits, CrashLoopWindowS: DefaultCrashLoopWindowS,
	}
}

// Validate checks every key and parses the key list.
func (c Config) Validate() ([]PublicKey, error) {
	keys, err := ParsePublicKeys(c.Keys)
	if err != nil {
		return nil, fmt.Errorf("key ota.keys: %w", err)
	}
	for _, r := range []struct {
		key       string
		v, lo, hi int
		unit      string
	}{
		{"ota.trial_s", c.TrialS, int(MinTrial / time.Second), int(MaxTrial / time.Second), "seconds"},
		{"ota.max_size_mb", c.MaxSizeMB, 1, 1024, "MiB"},
		{"ota.stall_s", c.StallS, 5, 600, "seconds"},
		{"ota.crash_loop_exits", c.CrashLoopExits, 2, 100, "exits"},
		{"ota.crash_loop_window_s", c.CrashLoopWindowS, 10, 86400, "seconds"},
	} {
		if r.v < r.lo || r.v > r.hi {
			return nil, fmt.Errorf("key %s: must be %d..%d %s, got %d", r.key, r.lo, r.hi, r.unit, r.v)
		}
	}
	return keys, nil
}
