package config

import (
	"fmt"
	"slices"
	"strings"
	"time"

	halmodem "github.com/loaxa/loaxa/hal/modem"

	"github.com/loaxa/loaxa/agent/health"
	"github.com/loaxa/loaxa/agent/watchdog"
	"github.com/loaxa/loaxa/audio/media"
)

// Modem is the 4G modem's AT port and what the agent watches on it.
type Modem struct {
	// Port is the AT command port, e.g. /dev/modem-at; "" finds it by USB
	// vendor/product id (UsbID, or the known modems).
	Port string `toml:"port" json:"port"`
	// UsbID is "vvvv:pppp[:iface]" of the modem's AT port ("": known modems).
	UsbID string `toml:"usb_id" json:"usb_id"`
	// APN overrides the one chosen by the SIM's network ("": by MCC/MNC).
	APN string `toml:"apn" json:"apn"`
	// PollS is the reading interval in seconds.
	PollS int `toml:"poll_s" json:"poll_s"`
	// GNSS reads the modem's position where it has a receiver.
	GNSS bool `toml:"gnss" json:"gnss"`
	// WeakRSRPdBm is the threshold of the modem.weak_signal alarm.
	WeakRSRPdBm int `toml:"weak_rsrp_dbm" json:"weak_rsrp_dbm"`
	// UnregisteredS is how long the modem may stay unregistered before the
	// modem.unregistered alarm.
	UnregisteredS int `toml:"unregistered_s" json:"unregistered_s"`
}

// Watchdog is the connectivity watchdog's ladder: after the broker has been
// unreachable this long, reconnect, cycle the radio, reset the modem,
// reboot the board (at most MaxRebootsPerDay times a day).
type Watchdog struct {
	ReconnectS       int `toml:"reconnect_s" json:"reconnect_s"`
	RadioS           int `toml:"radio_s" json:"radio_s"`
	ModemResetS      int `toml:"modem_reset_s" json:"modem_reset_s"`
	RebootS          int `toml:"reboot_s" json:"reboot_s"`
	MaxRebootsPerDay int `toml:"max_reboots_per_day" json:"max_reboots_per_day"`
}

// Health are the board's health thresholds.
type Health struct {
	TempWarningC    float64 `toml:"temp_warning_c" json:"temp_warning_c"`
	TempCriticalC   float64 `toml:"temp_critical_c" json:"temp_critical_c"`
	TempHysteresisC float64 `toml:"temp_hysteresis_c" json:"temp_hysteresis_c"`
	// CriticalVolume caps the output volume while the board is critical.
	CriticalVolume int `toml:"critical_volume" json:"critical_volume"`
	// DiskMinFreeMB raises disk_low below it.
	DiskMinFreeMB int `toml:"disk_min_free_mb" json:"disk_min_free_mb"`
}

// Media is the offline media cache.
type Media struct {
	// QuotaMB bounds the cache; least recently used files go first, never
	// one the schedule still needs.
	QuotaMB int `toml:"quota_mb" json:"quota_mb"`
	// LeadH is how far ahead the schedule's files are fetched.
	LeadH int `toml:"lead_h" json:"lead_h"`
	// Fallback is the cached file played when a scheduled file is missing
	// at air time ("": silence).
	Fallback string `toml:"fallback" json:"fallback"`
}

// MQTT is the broker connection.
type MQTT struct {
	// Broker is tcp://host:port, tls://host:port, ssl://host:port or
	// "embedded" (an in-process broker on 127.0.0.1:1883, for demos).
	Broker string `toml:"broker" json:"broker"`
	// Brokers are more addresses of the same broker cluster, tried in turn
	// after Broker.
	Brokers  []string `toml:"brokers" json:"brokers"`
	Username string   `toml:"username" json:"username"`
	Password string   `toml:"password" json:"password" secret:"true"`
	CAFile   string   `toml:"ca_file" json:"ca_file"`
	CertFile string   `toml:"cert_file" json:"cert_file"`
	KeyFile  string   `toml:"key_file" json:"key_file"`
	// Keepalive in seconds.
	Keepalive int `toml:"keepalive" json:"keepalive"`
	// FallbackAfterS: after a restart with changed mqtt.* settings that do
	// not reach the broker within this many seconds, the pole goes back to
	// the last settings that connected.
	FallbackAfterS int `toml:"fallback_after_s" json:"fallback_after_s"`
}

// AllBrokers is Broker followed by Brokers, without duplicates.
func (m MQTT) AllBrokers() []string {
	out := []string{m.Broker}
	for _, b := range m.Brokers {
		if !slices.Contains(out, b) {
			out = append(out, b)
		}
	}
	return out
}

// Auth configures command authentication.
type Auth struct {
	// CommandKey, when set, is a hex HMAC-SHA256 key: commands listed in
	// Signed must then carry a valid "auth" field (see docs/protocol.md).
	CommandKey string   `toml:"command_key" json:"command_key" secret:"true"`
	Signed     []string `toml:"signed" json:"signed"`
	// MaxSkew bounds how far a signed command's ts may be from the device
	// clock, in seconds.
	MaxSkew int `toml:"max_skew" json:"max_skew"`
	// LegacySignatures accepts v1 signatures, which do not cover the
	// target, while the operator's tools migrate to v2.
	LegacySignatures bool `toml:"legacy_signatures" json:"legacy_signatures"`
}

// Audio configures the output chain and the priority ladder.
type Audio struct {
	// Device is the PortAudio output device name ("" = the default).
	Device string `toml:"device" json:"device"`
	// Rate and Channels are the output format.
	Rate     int `toml:"rate" json:"rate"`
	Channels int `toml:"channels" json:"channels"`
	// BufferMS is the device buffer, in milliseconds.
	BufferMS int `toml:"buffer_ms" json:"buffer_ms"`
	// EmergencyMinVolume is the lowest volume an emergency plays at.
	EmergencyMinVolume int `toml:"emergency_min_volume" json:"emergency_min_volume"`
	// AmpWarmupMS is the wait between amplifier power-on and the zone relays.
	AmpWarmupMS int `toml:"amp_warmup_ms" json:"amp_warmup_ms"`
	// RelaySettleMS is the wait between zone relays and the fade-in.
	RelaySettleMS int `toml:"relay_settle_ms" json:"relay_settle_ms"`
	// FadeMS is the fade-in and fade-out time of items.
	FadeMS int `toml:"fade_ms" json:"fade_ms"`
	// AmpHoldS keeps the amplifier on this long after the last item, so
	// back-to-back items do not power-cycle it.
	AmpHoldS int `toml:"amp_hold_s" json:"amp_hold_s"`
	// Chime lists the priorities announced by a chime ("priority", "emergency").
	Chime []string `toml:"chime" json:"chime"`
	// ChimeSource is the chime: "" for the built-in two-tone, or tone:HZ.
	ChimeSource string `toml:"chime_source" json:"chime_source"`
	// LiveTargetMS is the jitter-buffer target of live audio.
	LiveTargetMS int `toml:"live_target_ms" json:"live_target_ms"`
	// SyncDelayMS is D of synchronised live play-out: every pole plays
	// the sample captured at T at T + D.
	SyncDelayMS int `toml:"sync_delay_ms" json:"sync_delay_ms"`
	// SyncMaxErrorMS is the largest clock error (as the kernel estimates
	// it) under which a pole still plays in step; above it, or with an
	// unsynchronised clock, it falls back to plain play-out.
	SyncMaxErrorMS int `toml:"sync_max_error_ms" json:"sync_max_error_ms"`
	// SyncChannels are the live channels played in step unless a play
	// says "sync": false.
	SyncChannels []string `toml:"sync_channels" json:"sync_channels"`
	// StreamConnectS and StreamStallS bound network streams.
	StreamConnectS int `toml:"stream_connect_s" json:"stream_connect_s"`
	StreamStallS   int `toml:"stream_stall_s" json:"stream_stall_s"`
	// QueueMax bounds the items waiting for the output; more are busy.
	QueueMax int `toml:"queue_max" json:"queue_max"`
}

// MaxGroups bounds the groups a pole belongs to (each is a subscription).
const MaxGroups = 32

// validateParts checks the sections of the modem, the watchdog, health,
// media, the console and OTA; each error names its key.
func (c *Config) validateParts() []error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("key %s: %s", key, fmt.Sprintf(format, a...)))
	}
	m := c.Modem
	if strings.ContainsAny(m.Port, " \t\n") || m.Port != "" && !strings.HasPrefix(m.Port, "/") {
		bad("modem.port", `must be an absolute device path such as /dev/modem-at, or "" to find the modem by USB id, got %q`, m.Port)
	}
	if m.UsbID != "" {
		if _, err := halmodem.ParseUSBID(m.UsbID); err != nil {
			bad("modem.usb_id", "%v", err)
		}
	}
	if m.APN != "" {
		if err := halmodem.CheckAPN(m.APN); err != nil {
			bad("modem.apn", "%v", err)
		}
	}
	for _, r := range []struct {
		key       string
		v, lo, hi int
	}{
		{"modem.poll_s", m.PollS, 10, 3600},
		{"modem.weak_rsrp_dbm", m.WeakRSRPdBm, -140, -44},
		{"modem.unregistered_s", m.UnregisteredS, 10, 86400},
		{"health.critical_volume", c.Health.CriticalVolume, 0, 100},
		{"health.disk_min_free_mb", c.Health.DiskMinFreeMB, 0, 1 << 20},
		{"media.quota_mb", c.Media.QuotaMB, 16, 65536},
		{"media.lead_h", c.Media.LeadH, 1, 168},
	} {
		if r.v < r.lo || r.v > r.hi {
			bad(r.key, "must be %d..%d, got %d", r.lo, r.hi, r.v)
		}
	}
	if c.Media.Fallback != "" {
		if err := media.ValidName(c.Media.Fallback); err != nil {
			bad("media.fallback", `must be "" (silence) or a cached file's name: %v`, err)
		}
	}
	if err := c.Watchdog.Ladder().Check(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Health.Thermal().Check(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Console.Validate(); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.OTA.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// Ladder is the watchdog section as the watchdog package takes it.
func (w Watchdog) Ladder() watchdog.Config {
	s := func(n int) time.Duration { return time.Duration(n) * time.Second }
	return watchdog.Config{Reconnect: s(w.ReconnectS), Radio: s(w.RadioS), ModemReset: s(w.ModemResetS), Reboot: s(w.RebootS), MaxRebootsPerDay: w.MaxRebootsPerDay}
}

// Thermal is the health section's temperature policy.
func (h Health) Thermal() health.Thermal {
	return health.Thermal{WarningC: h.TempWarningC, CriticalC: h.TempCriticalC, HysteresisC: h.TempHysteresisC, CriticalVolume: h.CriticalVolume}
}
