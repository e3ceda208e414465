package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/loaxa/loaxa/agent/console"
	"github.com/loaxa/loaxa/ota"

	"github.com/loaxa/loaxa/internal/mqttc"

	"github.com/BurntSushi/toml"

	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/hal"
	"github.com/loaxa/loaxa/internal/atomicfile"
)

// Version is the schema version written into every saved file.
const Version = 1

// Config is the whole agent configuration. Field tags give the key names used
// in the TOML file and in config.get/config.set (dotted, e.g. "mqtt.broker").
type Config struct {
	Version int    `toml:"version" json:"version"`
	ID      string `toml:"id" json:"id"`
	DataDir string `toml:"data_dir" json:"data_dir"`
	// TopicRoot is the MQTT topic root, "loaxa/v1" by default.
	TopicRoot string `toml:"topic_root" json:"topic_root"`
	// Groups this device belongs to besides "all".
	Groups []string `toml:"groups" json:"groups"`
	// TeleInterval is the telemetry period in seconds, 10..3600.
	TeleInterval int `toml:"tele_interval" json:"tele_interval"`
	// PowerOn is what the zone relays do when the agent starts: "restore"
	// the last state, or switch everything "off".
	PowerOn  string   `toml:"power_on" json:"power_on"`
	LogLevel string   `toml:"log_level" json:"log_level"`
	MQTT     MQTT     `toml:"mqtt" json:"mqtt"`
	Auth     Auth     `toml:"auth" json:"auth"`
	Audio    Audio    `toml:"audio" json:"audio"`
	Hardware Hardware `toml:"hardware" json:"hardware"`
	Modem    Modem    `toml:"modem" json:"modem"`
	Watchdog Watchdog `toml:"watchdog" json:"watchdog"`
	Health   Health   `toml:"health" json:"health"`
	Media    Media    `toml:"media" json:"media"`
	// Console is the technician's serial console (agent/console).
	Console console.Config `toml:"console" json:"console"`
	// OTA is the over-the-air updater (ota).
	OTA ota.Config `toml:"ota" json:"ota"`
}

// Hardware is the wiring of the pole.
type Hardware struct {
	hal.Layout
	// ModemPower is an optional relay that cuts the modem's power when
	// energised: the watchdog's last resort before a reboot ("" pin: none).
	ModemPower hal.PinConfig `toml:"modem_power" json:"modem_power"`
}

// Default returns the configuration used when no file is given: zones z1..z4
// and an amplifier relay on an active-low relay board, door and mains inputs.
func Default() *Config {
	return &Config{
		Version:      Version,
		DataDir:      "/var/lib/loaxa",
		TopicRoot:    wire.DefaultRoot,
		Groups:       []string{},
		TeleInterval: 60,
		PowerOn:      "restore",
		LogLevel:     "info",
		MQTT:         MQTT{Broker: "tcp://127.0.0.1:1883", Brokers: []string{}, Keepalive: 30, FallbackAfterS: 600},
		Auth:         Auth{Signed: []string{}, MaxSkew: 300},
		Audio: Audio{
			Rate: 48000, Channels: 2, BufferMS: 40, EmergencyMinVolume: 80,
			AmpWarmupMS: 500, RelaySettleMS: 50, FadeMS: 30, AmpHoldS: 30,
			Chime: []string{"priority", "emergency"}, LiveTargetMS: 200,
			SyncDelayMS: 400, SyncMaxErrorMS: 50, SyncChannels: []string{},
			StreamConnectS: 10, StreamStallS: 15, QueueMax: 64,
		},
		Modem:    Modem{PollS: 30, GNSS: true, WeakRSRPdBm: -110, UnregisteredS: 120},
		Watchdog: Watchdog{ReconnectS: 120, RadioS: 300, ModemResetS: 900, RebootS: 3600, MaxRebootsPerDay: 3},
		Health:   Health{TempWarningC: 75, TempCriticalC: 82, TempHysteresisC: 5, CriticalVolume: 50, DiskMinFreeMB: 200},
		Media:    Media{QuotaMB: 1024, LeadH: 24},
		Console:  console.DefaultConfig(),
		OTA:      ota.DefaultConfig(),
		Hardware: Hardware{Layout: hal.Layout{
			Zones: map[string][]hal.PinConfig{
				"z1": {{Pin: "GPIO17", ActiveLow: true}},
				"z2": {{Pin: "GPIO27", ActiveLow: true}},
				"z3": {{Pin: "GPIO22", ActiveLow: true}},
				"z4": {{Pin: "GPIO23", ActiveLow: true}},
			},
			Amp: hal.PinConfig{Pin: "GPIO5", ActiveLow: true},
			Inputs: map[string]hal.PinConfig{
				"tamper": {Pin: "GPIO24", ActiveLow: false, Pull: "up"},
				"mains":  {Pin: "GPIO25", ActiveLow: false, Pull: "down"},
			},
		}},
	}
}

// Load reads and validates a TOML file. Keys absent from the file keep their
// default; unknown keys are an error (a typo must not be silently ignored).
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes and validates TOML text over the defaults.
func Parse(data []byte) (*Config, error) {
	c := Default()
	// The default layout must not leak into a file that names its own.
	var probe struct {
		Hardware map[string]any `toml:"hardware"`
	}
	if _, err := toml.Decode(string(data), &probe); err != nil {
		return nil, describeTOMLError(err)
	}
	if _, ok := probe.Hardware["zones"]; ok {
		c.Hardware.Zones = nil
	}
	if _, ok := probe.Hardware["inputs"]; ok {
		c.Hardware.Inputs = nil
	}
	md, err := toml.Decode(string(data), c)
	if err != nil {
		return nil, describeTOMLError(err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return nil, fmt.Errorf("unknown key %s", strings.Join(keys, ", "))
	}
	if c.Version > Version {
		return nil, fmt.Errorf("key version: file is version %d, this agent reads up to %d", c.Version, Version)
	}
	c.Version = Version // version 0 (unversioned) files migrate as is.
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func describeTOMLError(err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("line %d: %s", pe.Position.Line, pe.Message)
	}
	return err
}

// pinRE is the alphabet of GPIO line names as periph knows them (GPIO17,
// P1_11, ...): the simulator also makes a file of each, so no path.
var pinRE = regexp.MustCompile(`^[A-Za-z0-9_]{1,32}$`).MatchString

// Validate checks every key and returns an error naming the first bad one.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("key %s: %s", key, fmt.Sprintf(format, a...)))
	}
	if c.ID != "" && !wire.ValidID(c.ID) {
		bad("id", "%q is not a device id (3-64 chars of a-z, 0-9, '-')", c.ID)
	}
	if c.DataDir == "" {
		bad("data_dir", "must not be empty")
	}
	if err := wire.CheckRoot(c.TopicRoot); err != nil {
		bad("topic_root", "%v", err)
	}
	if len(c.Groups) > MaxGroups {
		bad("groups", "at most %d groups, got %d", MaxGroups, len(c.Groups))
	}
	for i, g := range c.Groups {
		if !wire.ValidGroup(g) {
			bad(fmt.Sprintf("groups[%d]", i), "%q is not a group name (3-64 chars of a-z, 0-9, '-')", g)
		}
	}
	if c.TeleInterval < 10 || c.TeleInterval > 3600 {
		bad("tele_interval", "must be 10..3600 seconds, got %d", c.TeleInterval)
	}
	if c.PowerOn != "off" && c.PowerOn != "restore" {
		bad("power_on", `must be "off" or "restore", got %q`, c.PowerOn)
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.LogLevel) {
		bad("log_level", `must be debug, info, warn or error, got %q`, c.LogLevel)
	}
	if err := checkBroker(c.MQTT.Broker); err != nil {
		bad("mqtt.broker", "%v", err)
	}
	if len(c.MQTT.Brokers) > 8 {
		bad("mqtt.brokers", "at most 8 more brokers, got %d", len(c.MQTT.Brokers))
	}
	for i, b := range c.MQTT.Brokers {
		if b == "embedded" {
			bad(fmt.Sprintf("mqtt.brokers[%d]", i), `"embedded" goes in mqtt.broker`)
		} else if err := checkBroker(b); err != nil {
			bad(fmt.Sprintf("mqtt.brokers[%d]", i), "%v", err)
		}
	}
	if c.MQTT.FallbackAfterS < 10 || c.MQTT.FallbackAfterS > 86400 {
		bad("mqtt.fallback_after_s", "must be 10..86400 seconds, got %d", c.MQTT.FallbackAfterS)
	}
	if c.MQTT.Keepalive < 5 || c.MQTT.Keepalive > 600 {
		bad("mqtt.keepalive", "must be 5..600 seconds, got %d", c.MQTT.Keepalive)
	}
	if (c.MQTT.CertFile == "") != (c.MQTT.KeyFile == "") {
		bad("mqtt.cert_file", "cert_file and key_file go together")
	}
	if c.Auth.CommandKey != "" {
		if k, err := hex.DecodeString(c.Auth.CommandKey); err != nil || len(k) < 16 {
			bad("auth.command_key", "must be at least 16 bytes of hex")
		}
	}
	if c.Auth.MaxSkew < 1 || c.Auth.MaxSkew > 86400 {
		bad("auth.max_skew", "must be 1..86400 seconds, got %d", c.Auth.MaxSkew)
	}
	au := c.Audio
	if !slices.Contains([]int{8000, 16000, 22050, 24000, 32000, 44100, 48000}, au.Rate) {
		bad("audio.rate", "must be one of 8000, 16000, 22050, 24000, 32000, 44100, 48000, got %d", au.Rate)
	}
	if au.Channels != 1 && au.Channels != 2 {
		bad("audio.channels", "must be 1 or 2, got %d", au.Channels)
	}
	for _, r := range []struct {
		key       string
		v, lo, hi int
	}{
		{"audio.buffer_ms", au.BufferMS, 5, 500},
		{"audio.emergency_min_volume", au.EmergencyMinVolume, 0, 100},
		{"audio.amp_warmup_ms", au.AmpWarmupMS, 0, 10000},
		{"audio.relay_settle_ms", au.RelaySettleMS, 0, 2000},
		{"audio.fade_ms", au.FadeMS, 0, 2000},
		{"audio.amp_hold_s", au.AmpHoldS, 0, 3600},
		{"audio.live_target_ms", au.LiveTargetMS, 20, 5000},
		{"audio.sync_delay_ms", au.SyncDelayMS, 50, 5000},
		{"audio.sync_max_error_ms", au.SyncMaxErrorMS, 1, 1000},
		{"audio.stream_connect_s", au.StreamConnectS, 1, 120},
		{"audio.stream_stall_s", au.StreamStallS, 1, 300},
		{"audio.queue_max", au.QueueMax, 1, 1000},
	} {
		if r.v < r.lo || r.v > r.hi {
			bad(r.key, "must be %d..%d, got %d", r.lo, r.hi, r.v)
		}
	}
	for i, p := range au.Chime {
		if p != "priority" && p != "emergency" && p != "live" && p != "normal" && p != "background" {
			bad(fmt.Sprintf("audio.chime[%d]", i), "must name a priority (normal, priority, emergency, ...), got %q", p)
		}
	}
	if len(au.SyncChannels) > 64 {
		bad("audio.sync_channels", "must list at most 64 channels, got %d", len(au.SyncChannels))
	}
	for i, ch := range au.SyncChannels {
		if !wire.ValidID(ch) {
			bad(fmt.Sprintf("audio.sync_channels[%d]", i), "must be a channel name (3-64 chars of a-z, 0-9, '-'), got %q", wire.Truncate(ch, 70))
		}
	}
	if hz, ok := strings.CutPrefix(au.ChimeSource, "tone:"); au.ChimeSource != "" && (!ok || !validHz(hz)) {
		bad("audio.chime_source", `must be "" (the built-in two-tone) or tone:HZ with HZ 20..20000, got %q`, au.ChimeSource)
	}
	errs = append(errs, c.validateParts()...)
	seen := map[string]string{}
	usePin := func(key string, p hal.PinConfig) {
		if !pinRE(p.Pin) {
			bad(key+".pin", "must name a GPIO line such as GPIO17 (1-32 chars of A-Z, a-z, 0-9, _), got %q", p.Pin)
			return
		}
		if prev, dup := seen[p.Pin]; dup {
			bad(key+".pin", "%s is already used by %s", p.Pin, prev)
		}
		seen[p.Pin] = key
		if !slices.Contains([]string{"", "up", "down", "none"}, p.Pull) {
			bad(key+".pull", `must be "up", "down" or "none", got %q`, p.Pull)
		}
	}
	h := c.Hardware
	if len(h.Zones) == 0 {
		bad("hardware.zones", "at least one zone is needed")
	}
	for _, name := range slices.Sorted(maps.Keys(h.Zones)) {
		key := "hardware.zones." + name
		if !validZoneName(name) {
			bad(key, "zone names are 1-32 chars of a-z, 0-9, '-', '_'")
		}
		if len(h.Zones[name]) == 0 {
			bad(key, "a zone needs at least one relay pin")
		}
		for i, p := range h.Zones[name] {
			usePin(fmt.Sprintf("%s[%d]", key, i), p)
		}
	}
	usePin("hardware.amp", h.Amp)
	if h.ModemPower.Pin != "" {
		usePin("hardware.modem_power", h.ModemPower)
	}
	for _, name := range slices.Sorted(maps.Keys(h.Inputs)) {
		usePin("hardware.inputs."+name, h.Inputs[name])
	}
	return errors.Join(errs...)
}

func validHz(s string) bool {
	v, err := strconv.ParseFloat(s, 64)
	return err == nil && v >= 20 && v <= 20000
}

func validZoneName(s string) bool {
	if len(s) < 1 || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

func checkBroker(u string) error {
	if u == "embedded" {
		return nil
	}
	if _, err := mqttc.ParseBroker(u); err != nil {
		return fmt.Errorf(`%v (or "embedded")`, err)
	}
	return nil
}

// ZoneNames returns the configured zone names, sorted.
func (c *Config) ZoneNames() []string { return slices.Sorted(maps.Keys(c.Hardware.Zones)) }

// AllGroups returns "all" plus the configured groups, without duplicates.
func (c *Config) AllGroups() []string {
	out := []string{"all"}
	for _, g := range c.Groups {
		if !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	return out
}

// Clone returns a deep copy.
func (c *Config) Clone() *Config {
	data, err := json.Marshal(c)
	if err != nil {
		panic(err) // Config holds only JSON-safe values.
	}
	out := &Config{}
	if err := json.Unmarshal(data, out); err != nil {
		panic(err)
	}
	return out
}

// Encode renders the configuration as TOML.
func (c *Config) Encode() ([]byte, error) {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# loaxad configuration (see docs/hardware.md and README.md).\n")
	fmt.Fprintf(&buf, "# Written by loaxad at %s; edit by hand or with config.set.\n\n", time.Now().UTC().Format(time.RFC3339))
	enc := toml.NewEncoder(&buf)
	enc.Indent = ""
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("config: encode: %w", err)
	}
	return buf.Bytes(), nil
}

// Save writes the configuration to path atomically (0600: it holds secrets).
func (c *Config) Save(path string) error {
	data, err := c.Encode()
	if err != nil {
		return err
	}
	// Compare without the timestamp line so an unchanged config is not
	// rewritten (flash wear).
	if old, err := Load(path); err == nil && old.Hash() == c.Hash() && old.secretsEqual(c) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	_, err = atomicfile.WriteFile(path, data, 0o600)
	return err
}

func (c *Config) secretsEqual(o *Config) bool {
	a, b := c.Flatten(true), o.Flatten(true)
	for _, k := range secretKeys {
		if !jsonEqual(a[k], b[k]) {
			return false
		}
	}
	return true
}

// Hash is a short fingerprint of the configuration, secrets excluded, so the
// operator can see in the state which poles run which configuration.
func (c *Config) Hash() string {
	flat := c.Flatten(false)
	data, err := json.Marshal(flat) // map keys are sorted by encoding/json.
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:8])
}

func asTypeErr(err error, target **json.UnmarshalTypeError) bool { return errors.As(err, target) }
