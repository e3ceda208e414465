package hal

import (
	"context"
	"time"
)

// Modem is the pole's cellular modem, seen through its AT command port.
//
// Every method is bounded in time: by its ctx and by the backend's own
// per-command timeouts, so a modem that stopped answering never holds its
// caller for longer than that. Methods may be called from several
// goroutines; the backend serialises them.
type Modem interface {
	// String names the modem, e.g. "Quectel EC25 on /dev/ttyUSB2".
	String() string
	// Read takes one reading. Values the modem did not give are absent
	// (nil) in the reading, never zero. The error is non-nil when the
	// modem could not be read at all or stopped answering part-way; the
	// reading then holds what was read before. An error wrapping ErrAbsent
	// means there is no modem on this board.
	Read(ctx context.Context) (ModemReading, error)
	// RadioOff switches the radio off (AT+CFUN=0); the modem stays
	// reachable on its command port.
	RadioOff(ctx context.Context) error
	// RadioOn switches the radio back on (AT+CFUN=1).
	RadioOn(ctx context.Context) error
	// Reset restarts the modem (AT+CFUN=1,1). A USB modem disappears from
	// the bus for a few seconds and comes back, perhaps under another tty
	// name; the backend finds it again.
	Reset(ctx context.Context) error
	// Halt releases the command port. The modem itself keeps running: the
	// data link belongs to the OS, not to the agent.
	Halt() error
}

// Registration is the modem's network registration state (3GPP TS 27.007
// +CEREG/+CGREG/+CREG <stat>).
type Registration string

// Registration states.
const (
	// RegHome: registered on the home network.
	RegHome Registration = "home"
	// RegRoaming: registered on a visited network.
	RegRoaming Registration = "roaming"
	// RegSearching: not registered, searching for a network.
	RegSearching Registration = "searching"
	// RegDenied: the network refused the registration (SIM barred, no
	// subscription, ...).
	RegDenied Registration = "denied"
	// RegNotRegistered: not registered and not searching (radio off, no
	// SIM).
	RegNotRegistered Registration = "not_registered"
	// RegEmergencyOnly: attached for emergency services only.
	RegEmergencyOnly Registration = "emergency_only"
)

// Registered reports whether the modem can carry data on this network.
func (r Registration) Registered() bool { return r == RegHome || r == RegRoaming }

// SIMState says whether the modem has a usable SIM (+CPIN?).
type SIMState string

// SIM states.
const (
	// SIMReady: the SIM is present and unlocked.
	SIMReady SIMState = "ready"
	// SIMAbsent: no SIM in the holder (+CME ERROR: 10).
	SIMAbsent SIMState = "absent"
	// SIMLocked: the SIM waits for a PIN or PUK.
	SIMLocked SIMState = "locked"
	// SIMError: the SIM is there but failed or is not usable (+CME ERROR:
	// 13, 15).
	SIMError SIMState = "error"
	// SIMBusy: the SIM is still initialising (+CME ERROR: 14).
	SIMBusy SIMState = "busy"
)

// ModemReading is one reading of the modem. Every field is a pointer:
// nil means the value is unknown (the modem did not give it, or gave
// something that does not make sense), never zero. The JSON names match the
// telemetry's `modem` object where they overlap.
type ModemReading struct {
	// Vendor and Model, as the modem names itself (AT+CGMI, AT+CGMM).
	Vendor *string `json:"vendor"`
	Model  *string `json:"model"`
	// RAT is the radio access technology in use: "LTE", "WCDMA", "GSM",
	// "NR5G", "CAT-M", "NB-IoT", ...
	RAT *string `json:"rat"`
	// RSSIdBm is the received signal strength (+CSQ, or the vendor's
	// serving-cell report), in dBm.
	RSSIdBm *float64 `json:"rssi_dbm"`
	// RSRPdBm, RSRQdB and SINRdB are the LTE reference-signal power and
	// quality and the signal to interference plus noise ratio.
	RSRPdBm *float64 `json:"rsrp_dbm"`
	RSRQdB  *float64 `json:"rsrq_db"`
	SINRdB  *float64 `json:"sinr_db"`
	// Operator is the network's long name (AT+COPS? with format 0).
	Operator *string `json:"operator"`
	// MCC and MNC identify the serving network (strings: "452", "04").
	MCC *string `json:"mcc"`
	MNC *string `json:"mnc"`
	// Cell is the serving cell id and TAC its tracking (or location) area
	// code, both in upper-case hexadecimal as modems report them.
	Cell *string `json:"cell"`
	TAC  *string `json:"tac"`
	// Registration is the network registration state.
	Registration *Registration `json:"registration"`
	// SIM is the SIM's state.
	SIM *SIMState `json:"sim"`
	// ICCID (SIM serial), IMEI (modem) and IMSI (subscriber).
	ICCID *string `json:"iccid"`
	IMEI  *string `json:"imei"`
	IMSI  *string `json:"imsi"`
	// APN is the access point name of the modem's first PDP context.
	APN *string `json:"apn"`
	// NetworkTime is the time the network gave the modem (+CCLK?), only
	// when the modem's clock was plainly set by the network.
	NetworkTime *time.Time `json:"network_time"`
	// GNSS is the position from the modem's own receiver, nil when the
	// modem has none or it could not be asked.
	GNSS *GNSSReading `json:"gnss"`
}

// GNSSReading is a position fix from the modem's GNSS receiver.
type GNSSReading struct {
	// Fix is true when Lat and Lon hold a position.
	Fix bool `json:"fix"`
	// Lat and Lon in decimal degrees (WGS 84), north and east positive.
	Lat *float64 `json:"lat"`
	Lon *float64 `json:"lon"`
	// AltitudeM above mean sea level, in metres.
	AltitudeM *float64 `json:"altitude_m"`
	// Satellites used for the fix.
	Satellites *int `json:"satellites"`
}
