package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loaxa/loaxa/agent/config"
	"github.com/loaxa/loaxa/agent/watchdog"
	"github.com/loaxa/loaxa/audio/player"
	"github.com/loaxa/loaxa/hal"
)

// shortLadder sets the watchdog's steps at 10, 20, 30 and 40 s.
func shortLadder(maxReboots int) func(*config.Config) {
	return func(c *config.Config) {
		c.Watchdog = config.Watchdog{ReconnectS: 10, RadioS: 20, ModemResetS: 30, RebootS: 40, MaxRebootsPerDay: maxReboots}
	}
}

// stepsOf renders watchdog.step events as "step", "step!" (failed) or
// "step/why" (withheld).
func stepsOf(evs []map[string]any) string {
	var out []string
	for _, e := range evs {
		s := e["step"].(string)
		if w, ok := e["withheld"].(string); ok {
			s += "/" + w
		}
		if _, ok := e["error"]; ok {
			s += "!"
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

func readWatchdogFile(t *testing.T, dir string) wdDoc {
	t.Helper()
	var d wdDoc
	b, err := os.ReadFile(filepath.Join(dir, watchdogFile))
	if err == nil {
		err = json.Unmarshal(b, &d)
	}
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// An emergency on air holds the reboot for as long as it plays (the modem
// reset below it still goes); once it ends the reboot goes, after the
// record of it is on disk; every step, the hold included, is reported
// when the link is back.
func TestWatchdogNeverRebootsDuringAnEmergency(t *testing.T) {
	for _, level := range []string{"emergency", "live"} {
		t.Run(level, func(t *testing.T) {
			p := partsPole(t, "", t0, shortLadder(3), nil)
			startParts(t, p)
			src := "tone:1000"
			if level == "live" {
				src = "live:tinh"
			}
			if ack, _ := p.send(t, playCmd("e1", fmt.Sprintf(`{"source":%q,"priority":%q}`, src, level))); !ack.OK {
				t.Fatal(ack.raw)
			}
			toPlaying(t, p, p.clk)
			p.startWatchdog() // as Run starts: the link is not up yet
			runFor(p, 5*time.Minute)
			if n := p.sim.Reboots(); n != 0 || len(p.wd.reboots) != 0 {
				t.Fatalf("rebooted %d times (%d asked) while an %s item played", n, len(p.wd.reboots), level)
			}
			p.playerEvent(player.Event{Kind: player.Ended, ID: "e1", Played: 48000})
			runUntil(p, watchdog.HeldRecheck, func() bool { return len(p.wd.reboots) == 1 })
			waitPumped(t, p, "the reboot once the item ended", func() bool { return p.sim.Reboots() == 1 })
			doc := readWatchdogFile(t, p.dir)
			if len(doc.Reboots) != 1 || len(doc.Pending) == 0 || doc.Pending[len(doc.Pending)-1].Step != "reboot" {
				t.Fatalf("watchdog.json before the reboot: %+v", doc)
			}

			p.published()
			p.linkEvent(LinkEvent{Kind: LinkUp})
			got := stepsOf(eventsOf(p, p.published(), "watchdog.step"))
			// No modem on this pole: its steps fail, and say so.
			want := "reconnect radio_cycle! modem_reset! reboot/" + level + " reboot"
			if got != want {
				t.Errorf("watchdog.step events %q, want %q", got, want)
			}
			if doc := readWatchdogFile(t, p.dir); len(doc.Pending) != 0 {
				waitPumped(t, p, "pending records cleared once reported", func() bool { return len(readWatchdogFile(t, p.dir).Pending) == 0 })
			}
		})
	}
}

// An update holds the reboot like an emergency; setUpdating(false) lets
// it go at once.
func TestWatchdogNeverRebootsDuringAnUpdate(t *testing.T) {
	p := partsPole(t, "", t0, shortLadder(3), nil)
	startParts(t, p)
	p.setUpdating(true)
	p.startWatchdog()
	runFor(p, 2*time.Minute)
	if len(p.wd.reboots) != 0 {
		t.Fatal("rebooted during an update")
	}
	p.setUpdating(false)
	if len(p.wd.reboots) != 1 {
		t.Fatal("the withheld reboot did not go when the update ended")
	}
	waitPumped(t, p, "the reboot", func() bool { return p.sim.Reboots() == 1 })
}

// At most max_reboots_per_day reboots in any 24 hours, across restarts of
// the agent (watchdog.json keeps their times); the records of the outage
// before the restart are reported by the next run.
func TestWatchdogRebootLimitHoldsAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	p := partsPole(t, dir, t0, shortLadder(1), nil)
	stop := startParts(t, p)
	p.startWatchdog()
	runFor(p, 10*time.Minute)
	if len(p.wd.reboots) != 1 {
		t.Fatalf("%d reboots asked in 10 minutes cut off, want 1 (the limit)", len(p.wd.reboots))
	}
	waitPumped(t, p, "the reboot", func() bool { return p.sim.Reboots() == 1 })
	waitPumped(t, p, "the held reboot on disk", func() bool {
		for _, r := range readWatchdogFile(t, dir).Pending {
			if r.Withheld == "limit" {
				return true
			}
		}
		return false
	})
	stop()
	p.Close()

	// The agent restarts (systemd, an update, the reboot itself) ten
	// minutes later, still cut off.
	p2 := partsPole(t, dir, t0.Add(10*time.Minute), shortLadder(1), nil)
	startParts(t, p2)
	p2.startWatchdog()
	runFor(p2, 5*time.Minute)
	if len(p2.wd.reboots) != 1 || p2.sim.Reboots() != 0 {
		t.Fatalf("after a restart: %d reboots in the day, %d taken, want the limit held", len(p2.wd.reboots), p2.sim.Reboots())
	}
	// A day after the first reboot, one more is allowed.
	p2.clk.Advance(24 * time.Hour)
	settle(p2)
	runUntil(p2, time.Minute, func() bool { return len(p2.wd.reboots) == 1 && p2.wd.reboots[0].After(t0.Add(24*time.Hour)) })
	waitPumped(t, p2, "a reboot the next day", func() bool { return p2.sim.Reboots() == 1 })

	p2.published()
	p2.linkEvent(LinkEvent{Kind: LinkUp})
	evs := eventsOf(p2, p2.published(), "watchdog.step")
	got := stepsOf(evs)
	if !strings.HasPrefix(got, "reconnect radio_cycle! modem_reset! reboot radio_cycle! modem_reset! reboot/limit") ||
		!strings.HasSuffix(got, " reboot") {
		t.Errorf("watchdog.step events %q: want the first run's steps (one reboot, then held by the limit), then this run's, ending with its reboot", got)
	}
	first := evs[0]
	if first["down_since"].(float64) != float64(t0.UnixMilli()) || first["at"].(float64) != float64(t0.Add(10*time.Second).UnixMilli()) {
		t.Errorf("first record %v: want the outage that began at start, reconnect 10 s later", first)
	}
}

// The radio is cycled through the modem; a modem that stopped answering is
// reset by cutting its power (hardware.modem_power) rather than with an
// AT command it would not take; and the link dials at once after each.
func TestWatchdogCyclesTheRadioAndPowerCyclesADeadModem(t *testing.T) {
	m := &scriptedModem{r: registered()}
	relay := &fakeRelay{}
	p := partsPole(t, "", t0, func(c *config.Config) {
		c.Modem.PollS = 10
		c.Watchdog = config.Watchdog{ReconnectS: 10, RadioS: 20, ModemResetS: 60, RebootS: 600, MaxRebootsPerDay: 3}
	}, func(o *Options) { o.Modem, o.ModemPower = m, relay })
	if got := relay.levels(); len(got) != 1 || got[0] {
		t.Fatalf("modem power relay at start: %v, want released (powered) once", got)
	}
	startParts(t, p)
	waitPumped(t, p, "a first reading", func() bool { return p.modem.last != nil })
	p.startWatchdog()
	runFor(p, 15*time.Second)
	select {
	case <-p.link.redial:
	default:
		t.Error("no redial at the reconnect step")
	}
	// The parts react to the fake clock in their own goroutines: move it
	// until they are done (the poller leaves the radio off 5 s).
	cycled := func() bool { return strings.Join(m.done(), " ") == "AT+CFUN=0 AT+CFUN=1" && len(p.calls) == 0 }
	if runUntil(p, 40*time.Second, cycled); !cycled() {
		t.Fatalf("modem asked %v by 40 s after the link went down, want a radio cycle at 20 s", m.done())
	}
	settle(p)
	select {
	case <-p.link.redial:
	default:
		t.Error("the link was not asked to dial after the radio cycle")
	}
	m.set(hal.ModemReading{}, errors.New("modem: AT+CPIN?: no final result code within 3s"))
	powerCycled := func() bool {
		l := relay.levels()
		return len(l) == 3 && l[1] && !l[2]
	}
	if runUntil(p, time.Minute, powerCycled); !powerCycled() {
		t.Fatalf("modem power relay %v a minute later, want cut then restored at the modem reset (60 s)", relay.levels())
	}
	if got := m.done(); len(got) != 2 {
		t.Errorf("modem asked %v: a dead modem must not be sent AT+CFUN=1,1 when its power can be cut", got)
	}
	p.published()
	p.linkEvent(LinkEvent{Kind: LinkUp})
	if got := stepsOf(eventsOf(p, p.published(), "watchdog.step")); got != "reconnect radio_cycle modem_reset" {
		t.Errorf("watchdog.step events %q", got)
	}
}

// runUntil moves the fake clock as runFor does, at most by d, until cond
// holds.
func runUntil(p *testPole, d time.Duration, cond func() bool) {
	for end := p.clk.Now().Add(d); !cond() && p.clk.Now().Before(end); {
		p.clk.Advance(time.Second)
		settle(p)
	}
}
