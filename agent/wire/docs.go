package wire

import "github.com/loaxa/loaxa/ota"

// Status is the retained document on dev/{id}/status. The MQTT will carries
// the same document with Online false and the same Session, so an operator
// can pair every "offline" with the "online" it ends.
type Status struct {
	Online  bool   `json:"online"`
	Session uint64 `json:"session"`
	Version string `json:"version"`
	// Since is when this session came online (ms epoch); for the will, when
	// the session that died came online.
	Since int64 `json:"since"`
	TS    int64 `json:"ts"`
}

// Amp is the amplifier part of the state.
type Amp struct {
	Power bool `json:"power"`
}

// Playing describes what the speakers are playing.
type Playing struct {
	Item     string   `json:"item"`
	Source   string   `json:"source"`
	Priority string   `json:"priority"`
	Origin   string   `json:"origin,omitempty"`
	Zones    []string `json:"zones"`
	Since    int64    `json:"since"`
	Title    string   `json:"title,omitempty"`
	// Sync is set for a live item that asked to play in step with the
	// other poles.
	Sync *SyncInfo `json:"sync,omitempty"`
}

// SyncInfo says whether a live item plays in step (synchronised
// play-out), and if not, why.
type SyncInfo struct {
	On bool `json:"on"`
	// DelayMS is D: the sample captured at T plays at T + D.
	DelayMS int `json:"delay_ms,omitempty"`
	// Reason is why it plays without synchronisation: clock_unsynced,
	// clock_error, clock_unknown.
	Reason string `json:"reason,omitempty"`
}

// ScheduleInfo is the schedule part of the state.
type ScheduleInfo struct {
	// Version is the schedule's version, "" when there is none.
	Version string `json:"version"`
	// Clock is "synced" or "unsynced": nothing scheduled starts while the
	// clock is not synchronised (commanded playback still works).
	Clock string `json:"clock"`
	// Next is when the next occurrence starts (ms), null when nothing is
	// scheduled again or the clock is not synchronised; NextItem is its
	// schedule item id.
	Next     *int64 `json:"next"`
	NextItem string `json:"next_item,omitempty"`
	// Items counts the schedule's items.
	Items int `json:"items"`
}

// MediaInfo is the media cache's use in the state.
type MediaInfo struct {
	UsedBytes    int64 `json:"used_bytes"`
	QuotaBytes   int64 `json:"quota_bytes"`
	Files        int   `json:"files"`
	PartialBytes int64 `json:"partial_bytes"`
	Fetching     int   `json:"fetching"`
	Queued       int   `json:"queued"`
	// Missing are files the schedule needs that are not cached (at most
	// ten); MissingCount counts them all.
	Missing      []string `json:"missing,omitempty"`
	MissingCount int      `json:"missing_count"`
}

// Alarm is an active alarm in the state.
type Alarm struct {
	Name  string `json:"name"`
	Since int64  `json:"since"`
	// Detail says what is wrong, for a person.
	Detail string `json:"detail,omitempty"`
}

// State is the retained full-state document on dev/{id}/state.
type State struct {
	TS      int64           `json:"ts"`
	ID      string          `json:"id"`
	Version string          `json:"version"`
	Zones   map[string]bool `json:"zones"`
	Volume  int             `json:"volume"`
	Amp     Amp             `json:"amp"`
	Playing *Playing        `json:"playing"`
	// Queue lists the first waiting items (at most 32); Queued counts them all.
	Queue      []Playing       `json:"queue"`
	Queued     int             `json:"queued"`
	Schedule   ScheduleInfo    `json:"schedule"`
	Media      *MediaInfo      `json:"media,omitempty"`
	ConfigHash string          `json:"config_hash"`
	Alarms     []Alarm         `json:"alarms"`
	Groups     []string        `json:"groups"`
	Inputs     map[string]bool `json:"inputs"`
	// Hardware lists parts that are missing or failed (degraded mode).
	Hardware map[string]string `json:"hardware,omitempty"`
	// Modem identifies the 4G modem and its SIM, from its last good
	// reading; absent until the modem answered once.
	Modem *ModemInfo `json:"modem,omitempty"`
	// VolumeCap is the volume every item is held to while the board is
	// critically hot (health.critical_volume); absent otherwise.
	VolumeCap *int `json:"volume_cap,omitempty"`
	// OTA is where over-the-air updates stand: the running version and
	// slot, the other slot, the update's state (docs/ota.md).
	OTA *ota.Status `json:"ota,omitempty"`
}

// ModemInfo identifies the pole's modem and SIM in the state: what a
// provincial system files the pole under (the IMEI) and what a technician
// needs on the phone to the operator (the ICCID). Nil fields are unknown.
type ModemInfo struct {
	Model    *string `json:"model"`
	IMEI     *string `json:"imei"`
	ICCID    *string `json:"iccid"`
	Operator *string `json:"operator"`
}

// MQTTCounters are the link counters in telemetry.
type MQTTCounters struct {
	Reconnects uint64 `json:"reconnects"`
	RX         uint64 `json:"rx"`
	TX         uint64 `json:"tx"`
	Dropped    uint64 `json:"dropped"`
}

// AudioTele is the audio part of telemetry; nil fields are unknown.
type AudioTele struct {
	LevelDBFS *float64 `json:"level_dbfs"`
	Underruns uint64   `json:"underruns"`
	// Live is set while a live item is on air.
	Live *LiveTele `json:"live,omitempty"`
}

// LiveTele is the live item on air: its channel's jitter buffer and, when
// synchronised, how far from its schedule it plays.
type LiveTele struct {
	Channel string `json:"channel"`
	// LatencyMS is from the last frame's capture to its first sample
	// leaving the loudspeaker.
	LatencyMS float64 `json:"latency_ms"`
	Lost      uint64  `json:"lost"`
	Late      uint64  `json:"late"`
	Concealed uint64  `json:"concealed"`
	// Trimmed counts quiet frames left out to catch up a backlog.
	Trimmed   uint64 `json:"trimmed"`
	Underruns uint64 `json:"underruns"`
	// SyncOffsetMS is the measured offset from the schedule (positive:
	// late); InStep says whether it keeps to it. Only when synchronised.
	SyncOffsetMS *float64 `json:"sync_offset_ms,omitempty"`
	InStep       *bool    `json:"in_step,omitempty"`
}

// ModemTele is the 4G modem part of telemetry; nil fields are unknown.
type ModemTele struct {
	RAT      *string  `json:"rat"`
	RSSIdBm  *float64 `json:"rssi_dbm"`
	RSRPdBm  *float64 `json:"rsrp_dbm"`
	RSRQdB   *float64 `json:"rsrq_db"`
	SINRdB   *float64 `json:"sinr_db"`
	Operator *string  `json:"operator"`
	Cell     *string  `json:"cell"`
	ICCID    *string  `json:"iccid"`
	IMEI     *string  `json:"imei"`
	// MCC and MNC of the serving network ("452", "04"), TAC its tracking
	// area (hex); Registration is home, roaming, searching, denied,
	// not_registered or emergency_only; SIM is ready, absent, locked,
	// error or busy; APN the one in the modem's first PDP context.
	MCC          *string `json:"mcc"`
	MNC          *string `json:"mnc"`
	TAC          *string `json:"tac"`
	Registration *string `json:"registration"`
	SIM          *string `json:"sim"`
	APN          *string `json:"apn"`
}

// GNSSTele is the position part of telemetry.
type GNSSTele struct {
	Lat *float64 `json:"lat"`
	Lon *float64 `json:"lon"`
	Fix bool     `json:"fix"`
}

// Tele is the periodic telemetry document on dev/{id}/tele. Pointer fields
// are null when the value could not be read (e.g. no thermal sensor).
type Tele struct {
	TS            int64           `json:"ts"`
	UptimeS       int64           `json:"uptime_s"`
	MemRSSBytes   *uint64         `json:"mem_rss_bytes"`
	CPUTempC      *float64        `json:"cpu_temp_c"`
	Load1         *float64        `json:"load1"`
	DiskFreeBytes *uint64         `json:"disk_free_bytes"`
	MQTT          MQTTCounters    `json:"mqtt"`
	Audio         AudioTele       `json:"audio"`
	Modem         ModemTele       `json:"modem"`
	GNSS          GNSSTele        `json:"gnss"`
	Inputs        map[string]bool `json:"inputs"`
	Volume        int             `json:"volume"`
	Session       uint64          `json:"session"`
}

// Event is a document on dev/{id}/event. Type says what happened; the other
// fields depend on it and travel in Data.
type Event struct {
	// Seq numbers the pole's durable messages (events, answers to commands
	// that change something) across restarts, never reused: a repeat is a
	// duplicate, a gap a loss.
	Seq  uint64         `json:"seq,omitempty"`
	TS   int64          `json:"ts"`
	Type string         `json:"type"`
	Data map[string]any `json:"data,omitempty"`
}

// Event types emitted by the agent.
const (
	EventRetainedIgnored = "retained_command_ignored"
	EventBadCommand      = "bad_command"
	EventAlarm           = "alarm"
	EventAlarmCleared    = "alarm_cleared"
	EventStarted         = "started"
	EventConfigChanged   = "config_changed"
	EventError           = "error"
	EventInput           = "input"
	// EventWatchdogStep reports one step of the connectivity watchdog
	// (or a reboot it withheld), once the link is back.
	EventWatchdogStep = "watchdog.step"
)

// LogRecord is one playback in the playback log: a run of an item on the
// output (an interrupted item that resumes is a second record), or an
// item that never played (stopped while queued, its window closed,
// missed by the schedule). The province's reports are built from these.
type LogRecord struct {
	// Seq numbers the log, never reused; no gap unless a record was lost
	// to damaged storage.
	Seq uint64 `json:"seq"`
	// Item is the play item's id (a scheduled occurrence's is
	// SCHEDULE_ITEM:YYYY-MM-DD); CmdID the play command's, if any.
	Item         string `json:"item"`
	CmdID        string `json:"cmd_id,omitempty"`
	ScheduleItem string `json:"schedule_item,omitempty"`
	// Source has its credentials and query values hidden.
	Source string `json:"source"`
	// Instead is the source the schedule named, when Source is the
	// fallback file (media.fallback) that played in its place.
	Instead  string   `json:"instead_of,omitempty"`
	Title    string   `json:"title,omitempty"`
	Priority string   `json:"priority"`
	Origin   string   `json:"origin,omitempty"`
	Zones    []string `json:"zones"`
	// Volume is the level it played at (0-100).
	Volume int `json:"volume"`
	// Scheduled is the schedule's start (ms); Start the actual start of
	// this run (ms, absent when it never sounded); End when it ended.
	Scheduled int64 `json:"scheduled,omitempty"`
	Start     int64 `json:"start,omitempty"`
	End       int64 `json:"end"`
	// HeardS is how many seconds of its audio were heard in this run.
	HeardS float64 `json:"heard_s"`
	// Result is completed, interrupted, stopped, failed or missed.
	Result string `json:"result"`
	// InterruptedBy names what took over (an item id, agent_stopped,
	// agent_restarted) when Result is interrupted.
	InterruptedBy string `json:"interrupted_by,omitempty"`
	Error         string `json:"error,omitempty"`
	// Resumed: an earlier run of the item was interrupted.
	Resumed bool `json:"resumed,omitempty"`
}
