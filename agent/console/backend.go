package console

import (
	"context"
	"encoding/json"
	"time"

	"github.com/loaxa/loaxa/agent/wire"
)

// Backend is what the console needs from the agent. Every method is called
// from the console's own goroutine, one call at a time, and must honour ctx
// (it ends when the console closes); none may be called concurrently with
// itself, but all may be called while the agent runs, so an implementation
// hands the work to the agent's goroutine rather than sharing its state.
//
// Errors returned by the test, Provision and FactoryReset methods may be (or
// wrap) a *wire.Error to choose the ack's error code; an error wrapping
// hal.ErrAbsent is reported as "unsupported" (the part is not on this
// board); any other error is "internal".
type Backend interface {
	// Do executes one protocol command document, exactly as MQTT carries it
	// ({"id","cmd","args"}), with the handlers MQTT commands use, and
	// returns its ack document. The console has already checked the
	// console password, so Do must not require an HMAC signature
	// (auth.command_key) of console commands. The ack goes back to the
	// console only, not to dev/ID/ack.
	Do(ctx context.Context, cmd []byte) (ack []byte)
	// Banner describes the pole for the banner and `status`.
	Banner(ctx context.Context) Banner
	// Access is the console's access configuration in force now. It is
	// called for every line, so it must be cheap and safe to call from
	// the console goroutine (e.g. an atomic snapshot the agent replaces
	// whenever its configuration changes).
	Access() Access
	// TestRelay switches the relay NAME (a zone name, or "amp" for the
	// amplifier) on, holds it long enough to hear the click, and off again.
	TestRelay(ctx context.Context, name string) (TestReport, error)
	// TestTone plays a test tone through the amplifier and every zone.
	TestTone(ctx context.Context) (TestReport, error)
	// TestModem queries the 4G modem (IMEI, ICCID, operator, signal).
	TestModem(ctx context.Context) (TestReport, error)
	// TestBroker connects to the broker with the saved configuration and
	// reports whether it could, and if not why.
	TestBroker(ctx context.Context) (TestReport, error)
	// Provision validates the whole configuration p, installs its files
	// and saves it atomically: either all of it is in force afterwards or
	// nothing changed. The agent restarts its link (or itself) after
	// returning, as ProvisionReport.Restart says.
	Provision(ctx context.Context, p Provisioning) (ProvisionReport, error)
	// FactoryReset puts the configuration and the data back to their
	// defaults (the console password goes with them: the board is blank
	// again). The console has asked for confirmation. The agent restarts
	// after returning.
	FactoryReset(ctx context.Context) error
}

// Access is the console's access configuration.
type Access struct {
	// PasswordHash is console.password as stored (see HashPassword); ""
	// means a blank board, where every command is allowed.
	PasswordHash string
	// Idle logs a session out after this long without input; 0 means
	// DefaultIdle.
	Idle time.Duration
}

// Banner describes the pole to a technician. Empty fields are unknown or
// absent and are shown so.
type Banner struct {
	ID      string `json:"id"`
	Version string `json:"version"`
	// IMEI and ICCID come from the modem; both empty when there is none.
	IMEI  string `json:"imei,omitempty"`
	ICCID string `json:"iccid,omitempty"`
	// Broker is the broker URL in use, with any password redacted.
	Broker string `json:"broker"`
	// Connected tells whether the MQTT link is up; Link says more for a
	// person ("connected since 10:02", "not authorized", ...).
	Connected bool   `json:"connected"`
	Link      string `json:"link,omitempty"`
	// Zones are the zone relays and whether each is on.
	Zones map[string]bool `json:"zones"`
	// Alarms are the active alarms.
	Alarms []wire.Alarm `json:"alarms"`
	// NotRunning: the agent is not running (it is starting, or cannot
	// start) and the console answers from the configuration file alone;
	// Link says why.
	NotRunning bool `json:"not_running,omitempty"`
}

// TestReport is the result of a technician test that ran.
type TestReport struct {
	// Detail says what was done and seen, for a person.
	Detail string `json:"detail"`
	// Values are what was measured or read (signal, IMEI, connect time).
	Values map[string]any `json:"values,omitempty"`
}

// Provisioning is a whole configuration sent by `provision`.
type Provisioning struct {
	// Config is the configuration as one JSON object, nested as the
	// configuration's JSON form ({"id":"...","mqtt":{"broker":"..."}});
	// keys left out take their defaults. A console.password in it is
	// already hashed by the console.
	Config json.RawMessage
	// Files are PEM documents keyed by the configuration key that names
	// their file: "mqtt.ca_file", "mqtt.cert_file", "mqtt.key_file". The
	// console has checked that each parses (and that a certificate and key
	// match); the backend installs them (InstallFiles) and sets each key
	// to the file's path, overriding the same key in Config.
	Files map[string][]byte
}

// ProvisionReport is what Provision did.
type ProvisionReport struct {
	// ID is the device id now configured.
	ID string `json:"id"`
	// Changed lists the configuration keys whose value changed (names
	// only: values may be secrets).
	Changed []string `json:"changed"`
	// ConfigHash is the new configuration's fingerprint (as in the state).
	ConfigHash string `json:"config_hash,omitempty"`
	// Restart tells that the agent restarts its link to apply it.
	Restart bool `json:"restart"`
}

// Event types reported through Options.Event.
const (
	// EventSession: a session started or ended, a login succeeded or
	// failed, a logout. Data: "state" (start, end, login, login_failed,
	// logout), "port", and per state "reason", "commands", "failures",
	// "retry_in_s".
	EventSession = "console.session"
	// EventCommand: one command was executed or refused. Data: "id",
	// "cmd", "form" (human or json), "ok", "code" when not ok, and
	// "keys" (names only) for config.set, config.get and provision.
	EventCommand = "console.command"
)
