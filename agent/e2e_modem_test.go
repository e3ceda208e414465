package agent_test

// End-to-end tests of the modem, its alarms and the connectivity watchdog:
// the real loaxad --sim (its emulated EC25 on a pseudo-terminal, read
// through the real serial and AT code) against a real mosquitto, the
// emulated modem driven through its control files as a person would.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/internal/mqtttest"
	simmodem "github.com/loaxa/loaxa/sim/modem"
)

// modemPole runs loaxad --sim with telemetry and modem readings every
// 10 s (the shortest allowed) and the watchdog's first steps at 10 and
// 20 s; it returns the modem's control directory.
func modemPole(t *testing.T, b *mqtttest.Broker, id string) (topics wire.Topics, modemDir string) {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "loaxa.toml")
	toml := fmt.Sprintf(`id = %q
tele_interval = 10
[mqtt]
broker = %q
[modem]
poll_s = 10
[watchdog]
reconnect_s = 10
radio_s = 20
modem_reset_s = 3000
reboot_s = 3600
`, id, b.URL())
	if err := os.WriteFile(cfg, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	runLoaxad(t, "--sim", "--config", cfg, "--data-dir", dir)
	return wire.Topics{Root: wire.DefaultRoot, ID: id}, filepath.Join(dir, "sim", "modem")
}

func teleRSRP(topics wire.Topics, rsrp float64) func(mqtttest.Message) bool {
	return func(m mqtttest.Message) bool {
		var tele wire.Tele
		return m.Topic == topics.Tele() && json.Unmarshal(m.Payload, &tele) == nil && tele.Modem.RSRPdBm != nil && *tele.Modem.RSRPdBm == rsrp
	}
}

// stateAlarm matches a state with (or without) the alarm name, built
// after the state after (the test's subscriber may reorder messages).
func stateAlarm(topics wire.Topics, name string, raised bool, after *wire.State) func(mqtttest.Message) bool {
	return func(m mqtttest.Message) bool {
		var st wire.State
		if m.Topic != topics.State() || json.Unmarshal(m.Payload, &st) != nil || after != nil && st.TS <= after.TS {
			return false
		}
		has := slices.ContainsFunc(st.Alarms, func(a wire.Alarm) bool { return a.Name == name })
		return has == raised
	}
}

func writeModem(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestE2EModemReadingsAlarmsAndASilentModem(t *testing.T) {
	t.Parallel()
	b := mqtttest.Start(t)
	watch := b.Subscribe(t, "loaxa/v1/dev/pole-modem/#")
	op := mqtttest.Client(t, b, "operator")
	topics, modemDir := modemPole(t, b, "pole-modem")

	// The emulated modem as it starts: registered on Viettel, -95 dBm.
	m := untilWithin(t, watch, "telemetry from the modem", 60*time.Second, teleRSRP(topics, -95))
	tele := decode[map[string]any](t, m)
	mt, _ := json.Marshal(tele["modem"])
	for _, want := range []string{`"operator":"Viettel"`, `"mcc":"452"`, `"mnc":"04"`, `"registration":"home"`, `"sim":"ready"`, `"apn":"v-internet"`, `"imei":"869710030002905"`} {
		if !strings.Contains(string(mt), want) {
			t.Errorf("telemetry modem %s lacks %s", mt, want)
		}
	}
	// A change of signal appears in the telemetry after the next reading.
	writeModem(t, simmodem.WriteRSRP(modemDir, -101))
	untilWithin(t, watch, "telemetry with RSRP -101", 60*time.Second, teleRSRP(topics, -101))

	// The SIM is taken out, and put back.
	writeModem(t, simmodem.WriteState(modemDir, simmodem.StateNoSIM))
	noSIM := decode[wire.State](t, untilWithin(t, watch, "state with modem.no_sim", 60*time.Second, stateAlarm(topics, "modem.no_sim", true, nil)))
	writeModem(t, simmodem.WriteState(modemDir, simmodem.StateRegistered))
	untilWithin(t, watch, "state without modem.no_sim", 60*time.Second, stateAlarm(topics, "modem.no_sim", false, &noSIM))

	// The modem falls silent: commands are answered while the agent's
	// poller waits on it (the modem holds a command unanswered, at.log
	// does not move), and modem.unresponsive follows.
	before, _ := simmodem.ReadLog(modemDir)
	writeModem(t, simmodem.WriteState(modemDir, simmodem.StateSilent))
	deadline := time.Now().Add(60 * time.Second)
	for {
		l, _ := simmodem.ReadLog(modemDir)
		if len(l) > len(before) {
			break // a command arrived after the switch: it stays unanswered
		}
		if time.Now().After(deadline) {
			t.Fatal("the agent never asked the silent modem anything")
		}
		time.Sleep(20 * time.Millisecond)
	}
	answeredWhileHeld := false
	for i := 0; i < 5 && !answeredWhileHeld; i++ {
		held, _ := simmodem.ReadLog(modemDir)
		id := fmt.Sprintf("ping-%d", i)
		mqtttest.Publish(t, op, topics.Cmd(), 1, false, []byte(fmt.Sprintf(`{"id":%q,"cmd":"ping"}`, id)))
		until(t, watch, "ack "+id, ackFor(topics, id))
		after, _ := simmodem.ReadLog(modemDir)
		// The modem times a command out after 3 s; a ping that came back
		// before the next command was sent did not wait on the modem.
		answeredWhileHeld = len(after) == len(held)
	}
	if !answeredWhileHeld {
		t.Error("no ping was answered while the modem held a command: the agent waits on the modem")
	}
	silent := decode[wire.State](t, untilWithin(t, watch, "state with modem.unresponsive", 60*time.Second, stateAlarm(topics, "modem.unresponsive", true, nil)))
	mqtttest.Publish(t, op, topics.Cmd(), 1, false, []byte(`{"id":"st-1","cmd":"status"}`))
	ack := decode[wire.Ack](t, until(t, watch, "status of a pole with a silent modem", ackFor(topics, "st-1")))
	if res, _ := json.Marshal(ack.Result); !ack.OK || !strings.Contains(string(res), "modem.unresponsive") {
		t.Errorf("status: %s", res)
	}
	writeModem(t, simmodem.WriteState(modemDir, simmodem.StateRegistered))
	untilWithin(t, watch, "state without modem.unresponsive", 60*time.Second, stateAlarm(topics, "modem.unresponsive", false, &silent))
}

func TestE2EWatchdogCyclesTheRadioWhileTheBrokerIsAway(t *testing.T) {
	t.Parallel()
	b := mqtttest.Start(t)
	watch := b.Subscribe(t, "loaxa/v1/dev/pole-wd/#")
	topics, modemDir := modemPole(t, b, "pole-wd")
	untilWithin(t, watch, "online", 60*time.Second, statusIs(topics.Status(), true, 1))
	// The modem answered (the radio can be cycled) before the broker goes.
	untilWithin(t, watch, "telemetry from the modem", 60*time.Second, teleRSRP(topics, -95))

	b.Stop()
	deadline := time.Now().Add(90 * time.Second)
	for {
		l, _ := simmodem.ReadLog(modemDir)
		off := slices.Index(l, "AT+CFUN=0")
		if off >= 0 && slices.Contains(l[off:], "AT+CFUN=1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no radio cycle in at.log %d s after the broker went away: %q", 90, l[max(0, len(l)-20):])
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.Restart()
	watch = b.Subscribe(t, "loaxa/v1/dev/pole-wd/#")
	step := func(name string) func(mqtttest.Message) bool {
		return func(m mqtttest.Message) bool {
			var ev wire.Event
			return m.Topic == topics.Event() && json.Unmarshal(m.Payload, &ev) == nil && ev.Type == wire.EventWatchdogStep && ev.Data["step"] == name
		}
	}
	// The test's subscriber does not keep the order of messages: either
	// may come first.
	got := untilAllWithin(t, watch, 90*time.Second, step("reconnect"), step("radio_cycle"))
	reconnect, radio := decode[wire.Event](t, got[0]), decode[wire.Event](t, got[1])
	for _, ev := range []wire.Event{reconnect, radio} {
		at, down := ev.Data["at"].(float64), ev.Data["down_since"].(float64)
		if at <= down || ev.Data["error"] != nil || ev.Data["down_since"] != reconnect.Data["down_since"] {
			t.Errorf("%s: %v", ev.Type, ev.Data)
		}
	}
	if got := radio.Data["at"].(float64) - reconnect.Data["at"].(float64); got < 9000 {
		t.Errorf("radio cycle %v ms after the reconnect, want the 10 s between the thresholds", got)
	}
}
