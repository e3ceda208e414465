package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/loaxa/loaxa/agent/config"
	"github.com/loaxa/loaxa/agent/ladder"
	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/audio/dsp"
	"github.com/loaxa/loaxa/hal"
)

// registered is a reading of a modem registered on Viettel's LTE network,
// as the emulated EC25 gives it.
func registered() hal.ModemReading {
	reg, sim := hal.RegHome, hal.SIMReady
	return hal.ModemReading{
		Vendor: ptr("Quectel"), Model: ptr("EC25"), RAT: ptr("LTE"),
		RSSIdBm: ptr(-67.0), RSRPdBm: ptr(-95.0), RSRQdB: ptr(-10.0), SINRdB: ptr(15.0),
		Operator: ptr("Viettel"), MCC: ptr("452"), MNC: ptr("04"), Cell: ptr("6F2D10A"), TAC: ptr("2F1A"),
		Registration: &reg, SIM: &sim,
		ICCID: ptr("89840480000123456789"), IMEI: ptr("869710030002905"), IMSI: ptr("452040123456789"), APN: ptr("v-internet"),
		GNSS: &hal.GNSSReading{Fix: true, Lat: ptr(18.6796), Lon: ptr(105.6813)},
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// nextReading moves the fake clock to the poller's next reading and waits
// until the agent has it.
func nextReading(t *testing.T, p *testPole, m *scriptedModem) {
	t.Helper()
	prev := p.modem.last
	runUntil(p, time.Duration(p.cfg.Modem.PollS)*time.Second+time.Second, func() bool { return p.modem.last != prev })
	waitPumped(t, p, "the next reading handed to Run", func() bool { return p.modem.last != prev })
}

// The modem's readings feed the telemetry (every field, unknown ones
// null), the state's identity of the modem, and the modem.* alarms, which
// are raised and cleared as the readings change.
func TestModemReadingsFeedTelemetryStateAndAlarms(t *testing.T) {
	m := &scriptedModem{r: registered()}
	p := partsPole(t, "", t0, func(c *config.Config) { c.Modem.PollS = 10 }, func(o *Options) { o.Modem = m })
	startParts(t, p)
	waitPumped(t, p, "a first reading", func() bool { return p.modem.last != nil })

	b := mustJSON(t, p.telemetry())
	for _, want := range []string{
		`"modem":{"rat":"LTE","rssi_dbm":-67,"rsrp_dbm":-95,"rsrq_db":-10,"sinr_db":15,"operator":"Viettel","cell":"6F2D10A","iccid":"89840480000123456789","imei":"869710030002905","mcc":"452","mnc":"04","tac":"2F1A","registration":"home","sim":"ready","apn":"v-internet"}`,
		`"gnss":{"lat":18.6796,"lon":105.6813,"fix":true}`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("telemetry lacks %s:\n%s", want, b)
		}
	}
	st := p.state()
	if st.Modem == nil || *st.Modem.IMEI != "869710030002905" || *st.Modem.ICCID != "89840480000123456789" || *st.Modem.Operator != "Viettel" || *st.Modem.Model != "Quectel EC25" {
		t.Errorf("state modem = %s", mustJSON(t, st.Modem))
	}
	if strings.Contains(string(mustJSON(t, st)), "452040123456789") {
		t.Error("the IMSI is published in the state")
	}

	// The SIM is taken out: no_sim at once, the SIM's fields unknown.
	noSIM := registered()
	absent, notReg := hal.SIMAbsent, hal.RegNotRegistered
	noSIM.SIM, noSIM.Registration, noSIM.ICCID, noSIM.IMSI, noSIM.Operator, noSIM.RSRPdBm = &absent, &notReg, nil, nil, nil, nil
	m.set(noSIM, nil)
	p.published()
	nextReading(t, p, m)
	msgs := p.published()
	if al := alarmNames(lastState(t, p, msgs)); al != "modem.no_sim" {
		t.Fatalf("alarms with no SIM: %q", al)
	}
	if b := mustJSON(t, p.telemetry()); !strings.Contains(string(b), `"rsrp_dbm":null`) || !strings.Contains(string(b), `"iccid":null`) || !strings.Contains(string(b), `"sim":"absent"`) {
		t.Errorf("telemetry with no SIM: %s", b)
	}
	// Back, but weak: weak_signal after two readings below -110 dBm.
	weak := registered()
	weak.RSRPdBm = ptr(-118.0)
	m.set(weak, nil)
	nextReading(t, p, m)
	if al := alarmNames(p.state()); al != "" {
		t.Fatalf("alarms after one weak reading: %q", al)
	}
	nextReading(t, p, m)
	if al := alarmNames(p.state()); al != "modem.weak_signal" {
		t.Fatalf("alarms after two weak readings: %q", al)
	}
	// The modem stops answering: unresponsive after three failed readings,
	// and the other alarms stay as they were.
	m.set(hal.ModemReading{}, errors.New("modem: AT+CPIN?: no final result code within 3s"))
	for range 3 {
		nextReading(t, p, m)
	}
	if al := alarmNames(p.state()); al != "modem.unresponsive modem.weak_signal" {
		t.Fatalf("alarms of a silent modem: %q", al)
	}
	m.set(registered(), nil)
	nextReading(t, p, m)
	cleared := eventsOf(p, p.published(), "alarm_cleared")
	if al := alarmNames(p.state()); al != "" || len(cleared) < 3 {
		t.Fatalf("alarms once the modem is well again: %q; cleared %v", al, cleared)
	}
}

// A board without a modem runs degraded and says so in the state, with no
// modem alarm; the modem is shown as soon as it appears (a USB modem
// enumerates after the agent started).
func TestNoModemIsDegradedNotAlarmed(t *testing.T) {
	m := &scriptedModem{}
	m.set(hal.ModemReading{}, fmt.Errorf("modem: no tty of a USB modem 2c7c:0125:2 on its AT interface: %w", hal.ErrAbsent))
	p := partsPole(t, "", t0, func(c *config.Config) { c.Modem.PollS = 10 }, func(o *Options) { o.Modem = m })
	startParts(t, p)
	waitPumped(t, p, "a first reading", func() bool { return p.modem.last != nil })
	for range 4 {
		nextReading(t, p, m)
	}
	st := p.state()
	if !strings.Contains(st.Hardware["modem"], "no tty of a USB modem") || len(st.Alarms) != 0 || st.Modem != nil {
		t.Fatalf("state of a pole without a modem: hardware %v, alarms %v, modem %v", st.Hardware, st.Alarms, st.Modem)
	}
	m.set(registered(), nil)
	nextReading(t, p, m)
	if st := p.state(); st.Hardware != nil || st.Modem == nil {
		t.Fatalf("once the modem is found: hardware %v, modem %v", st.Hardware, st.Modem)
	}
}

// At critical temperature every item, an emergency too, plays at no more
// than health.critical_volume, and the state says so; the cap lifts only
// below the threshold minus the hysteresis.
func TestThermalCapHoldsTheVolume(t *testing.T) {
	p := partsPole(t, "", t0, nil, nil)
	p.send(t, cmd("v", "volume", `{"level":90}`))
	p.send(t, playCmd("e1", `{"source":"tone:1000","priority":"emergency"}`))
	it := p.seq.Item()
	if got := p.itemGain(it); got != dsp.Gain(90) {
		t.Fatalf("gain before: %v", got)
	}
	for _, step := range []struct {
		temp   float64
		alarms string
		volume int
		capped bool
	}{
		{84, "temp_critical", 50, true},
		{79, "temp_critical", 50, true}, // not yet 5 °C below 82
		{76, "temp_warning", 90, false},
		{69, "", 90, false},
	} {
		p.sim.SetTemp(step.temp)
		p.applyHealth(readHealth(p.hw.Board, p.dir))
		st := p.state()
		if al := alarmNames(st); al != step.alarms {
			t.Errorf("%v °C: alarms %q, want %q", step.temp, al, step.alarms)
		}
		if got := p.itemGain(it); got != dsp.Gain(step.volume) {
			t.Errorf("%v °C: the emergency plays at gain %v, want volume %d", step.temp, got, step.volume)
		}
		if (st.VolumeCap != nil) != step.capped || st.Volume != 90 {
			t.Errorf("%v °C: state volume %d, cap %v", step.temp, st.Volume, st.VolumeCap)
		}
	}
	if it.Level != ladder.Emergency {
		t.Fatal("the item on air is not the emergency")
	}
}

// disk_low is raised when the data partition has less free space than
// health.disk_min_free_mb and cleared once it has enough (a config.set of
// the threshold takes effect at the next reading).
func TestDiskLowAlarm(t *testing.T) {
	p := partsPole(t, "", t0, func(c *config.Config) { c.Health.DiskMinFreeMB = 1 << 20 }, nil) // 1 TiB
	if r := readHealth(nil, p.dir); r.diskErr != nil || r.disk.Free >= 1<<40 {
		t.Skipf("statfs of the test directory: %+v, %v; the test needs less than 1 TiB free", r.disk, r.diskErr)
	}
	al, ok := p.alarms["disk_low"]
	if !ok || !strings.Contains(al.Detail, "want at least 1048576 MiB") {
		t.Fatalf("disk_low at start: %+v", p.alarms)
	}
	if b := mustJSON(t, p.telemetry()); strings.Contains(string(b), `"disk_free_bytes":null`) {
		t.Errorf("telemetry: %s", b)
	}
	if ack, _ := p.send(t, cmd("h", "config.set", `{"values":{"health.disk_min_free_mb":0}}`)); !ack.OK || !strings.Contains(ack.raw, `"restart_required":[]`) {
		t.Fatalf("config.set of a health key: %s, want it applied at once", ack.raw)
	}
	p.applyHealth(readHealth(p.hw.Board, p.dir))
	if _, ok := p.alarms["disk_low"]; ok {
		t.Fatal("disk_low still raised with no minimum")
	}
}

func alarmNames(st wire.State) string {
	var names []string
	for _, a := range st.Alarms {
		names = append(names, a.Name)
	}
	return strings.Join(names, " ")
}
