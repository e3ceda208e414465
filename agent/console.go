package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/loaxa/loaxa/agent/config"
	"github.com/loaxa/loaxa/agent/console"
	"github.com/loaxa/loaxa/agent/ladder"
	"github.com/loaxa/loaxa/agent/playargs"
	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/hal"
)

// The agent's side of the technician's serial console (agent/console). The
// console server belongs to the daemon, which starts it before an agent can
// exist (a blank board has no valid id); once the agent runs, the daemon
// hands the console this backend. Its methods run on the console's
// goroutine and never touch the agent's state: they hand the work to the
// Run goroutine through call (Do), and do their waiting (a relay's click,
// a tone, the modem, the broker) on their own goroutine.

// Bounds and durations of the console's work.
const (
	// consoleCallTimeout bounds how long the console waits for the Run
	// goroutine: a wedged agent must not wedge the rescue console too.
	consoleCallTimeout = 15 * time.Second
	// relayTestHold is how long `test relay` holds a relay switched: long
	// enough to hear the click and see the lamp.
	relayTestHold = time.Second
	// The test tone: a 1 kHz tone through every zone.
	toneTestHz       = 1000
	toneTestDuration = 3 * time.Second
	// brokerTestWait is how long `test broker` waits for the link to come
	// up when it is down (a retry is started at once).
	brokerTestWait = 20 * time.Second
	// modemTestTimeout bounds one reading of the modem.
	modemTestTimeout = 20 * time.Second
	// bannerModemTimeout bounds the modem reading behind the banner, and
	// bannerModemTTL how long its IMEI and ICCID are reused.
	bannerModemTimeout = 3 * time.Second
	bannerModemTTL     = 10 * time.Minute
	// consolePoll is how often a test polls for its outcome.
	consolePoll = 250 * time.Millisecond
)

var (
	errAgentStopped = errors.New("the agent is not running (it stopped or is restarting)")
	errAgentBusy    = fmt.Errorf("the agent did not answer within %s", consoleCallTimeout)
)

// consoleBackend implements console.Backend for a running agent.
type consoleBackend struct {
	a *Agent
	// Fixed for the agent's life: the id cannot change while it runs.
	id, version, dataDir, configPath string
	// access is the console's access configuration in force; the Run
	// goroutine replaces it when the configuration changes.
	access atomic.Pointer[console.Access]
	// brokerWait is brokerTestWait (tests shorten it).
	brokerWait time.Duration

	// Owned by the console goroutine (one call at a time).
	toneSeq     int
	modemAt     time.Time
	imei, iccid string
}

// setupConsole prepares the console backend (called from New).
func (a *Agent) setupConsole() {
	a.console = &consoleBackend{a: a, id: a.cfg.ID, version: a.opts.Version, dataDir: a.cfg.DataDir,
		configPath: a.opts.ConfigPath, brokerWait: brokerTestWait}
	a.consoleConfigChanged()
}

// ConsoleBackend is what the technician's console calls into while this
// agent runs. It is safe to use before Run starts (calls wait for it) and
// after it ended (calls say the agent is not running).
func (a *Agent) ConsoleBackend() console.Backend { return a.console }

// consoleConfigChanged publishes the console's access configuration of the
// saved configuration (console.password and console.idle_s take effect at
// once). Run goroutine, or New.
func (a *Agent) consoleConfigChanged() {
	acc := a.saved.Console.Access()
	a.console.access.Store(&acc)
}

// call runs f on the Run goroutine and waits until it ran. f may have run
// even when call fails with errAgentBusy; it must write only variables the
// caller reads after a nil error.
func (a *Agent) call(ctx context.Context, f func()) error {
	done := make(chan struct{})
	if !a.Do(ctx, func() { f(); close(done) }) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return errAgentStopped
	}
	t := a.clk.NewTimer(consoleCallTimeout)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-a.done:
		select {
		case <-done:
			return nil
		default:
			return errAgentStopped
		}
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C():
		return errAgentBusy
	}
}

// sleep waits d on the agent's clock, or until ctx ends.
func (b *consoleBackend) sleep(ctx context.Context, d time.Duration) error {
	t := b.a.clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Do executes one command document with the handlers MQTT commands use,
// on the Run goroutine, and returns its ack (which goes nowhere else).
func (b *consoleBackend) Do(ctx context.Context, doc []byte) []byte {
	var reply []byte
	err := b.a.call(ctx, func() {
		o := &origin{console: true}
		b.a.execute(doc, o)
		reply = o.reply
	})
	if err != nil {
		msg := err.Error()
		if errors.Is(err, errAgentBusy) {
			msg += "; the command may still be carried out: check with `status`"
		}
		return failedAck(doc, wire.Errf(wire.CodeInternal, "%s", msg), b.a.clk.Now())
	}
	return reply
}

// failedAck answers a document the agent could not execute.
func failedAck(doc []byte, e *wire.Error, now time.Time) []byte {
	ack := wire.Ack{Error: e, TS: now.UnixMilli()}
	if c, derr := wire.Decode(doc, now); derr == nil {
		ack.ID, ack.Cmd = c.ID, c.Cmd
	} else {
		ack.ID, ack.Cmd = derr.ID, derr.Cmd
	}
	b, err := json.Marshal(ack)
	if err != nil {
		b, _ = json.Marshal(wire.Ack{ID: ack.ID, Error: e, TS: ack.TS})
	}
	return b
}

// Access is the access configuration in force.
func (b *consoleBackend) Access() console.Access { return *b.access.Load() }

// Banner describes the pole: what the Run goroutine knows, plus the
// modem's IMEI and ICCID (read here, cached).
func (b *consoleBackend) Banner(ctx context.Context) console.Banner {
	bn := console.Banner{ID: b.id, Version: b.version, Zones: map[string]bool{}, Alarms: []wire.Alarm{}}
	err := b.a.call(ctx, func() {
		a := b.a
		bn.Broker = redactAll(a.cfg.MQTT.AllBrokers())
		bn.Zones = a.seq.Relays()
		for _, name := range slices.Sorted(maps.Keys(a.alarms)) {
			bn.Alarms = append(bn.Alarms, a.alarms[name])
		}
	})
	if err != nil {
		bn.Link = "unknown: " + err.Error()
		return bn
	}
	st := b.a.link.Stats()
	bn.Connected = st.Connected
	// The console prints "connected" or "not connected" itself; Link
	// says more.
	switch last := b.a.link.LastError(); {
	case st.Connected:
		bn.Link = fmt.Sprintf("session %d", st.Session)
	case last != "":
		bn.Link = last
	default:
		bn.Link = "trying"
	}
	b.modemIDs(ctx)
	bn.IMEI, bn.ICCID = b.imei, b.iccid
	return bn
}

// modemIDs refreshes the cached IMEI and ICCID when they are stale.
func (b *consoleBackend) modemIDs(ctx context.Context) {
	m := b.a.opts.Modem
	if m == nil || (!b.modemAt.IsZero() && b.a.clk.Now().Sub(b.modemAt) < bannerModemTTL) {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, bannerModemTimeout)
	defer cancel()
	r, _ := m.Read(rctx)
	b.remember(r)
}

func (b *consoleBackend) remember(r hal.ModemReading) {
	if r.IMEI == nil && r.ICCID == nil {
		return
	}
	b.imei, b.iccid = deref(r.IMEI), deref(r.ICCID)
	b.modemAt = b.a.clk.Now()
}

// TestRelay switches one relay to the other level, holds it, and puts it
// back to what the output wants. Only while nothing is on air: a relay
// moved under audio clicks in the horns.
func (b *consoleBackend) TestRelay(ctx context.Context, name string) (console.TestReport, error) {
	var (
		e       *wire.Error
		was     bool
		drivers []string
	)
	err := b.a.call(ctx, func() {
		a := b.a
		if e = a.relayTestAllowed(); e != nil {
			return
		}
		var outs []hal.Output
		switch {
		case name == "amp":
			if a.hw.Amp == nil {
				e = wire.Errf(wire.CodeUnsupported, "this pole has no amplifier relay driver (%s)", a.missingSummary())
				return
			}
			outs, was = []hal.Output{a.hw.Amp}, a.seq.Amp()
		default:
			if _, ok := a.zones[name]; !ok {
				e = wire.Errf(wire.CodeBadArgs, "no relay %q; this pole has the zones %s and amp", wire.Truncate(name, 32), strings.Join(a.cfg.ZoneNames(), ", "))
				return
			}
			if outs = a.hw.Zones[name]; len(outs) == 0 {
				e = wire.Errf(wire.CodeUnsupported, "zone %s has no relay driver on this pole (%s)", name, a.missingSummary())
				return
			}
			was = a.seq.Relays()[name]
		}
		for _, o := range outs {
			drivers = append(drivers, o.String())
		}
		if err := a.setRelay(name, !was); err != nil {
			a.restoreRelay(name)
			e = wire.Errf(wire.CodeInternal, "%v", err)
		}
	})
	if err != nil {
		return console.TestReport{}, err
	}
	if e != nil {
		return console.TestReport{}, e
	}
	// The relay goes back even when the console is closing.
	_ = b.sleep(ctx, relayTestHold)
	err = b.a.call(context.WithoutCancel(ctx), func() {
		if rerr := b.a.restoreRelay(name); rerr != nil {
			e = wire.Errf(wire.CodeInternal, "switched %s, but could not switch it back: %v", name, rerr)
		}
	})
	if err != nil {
		return console.TestReport{}, err
	}
	if e != nil {
		return console.TestReport{}, e
	}
	return console.TestReport{
		Detail: fmt.Sprintf("%s (%s) switched %s for %s, then %s again", name, strings.Join(drivers, ", "), relayLevel(!was), relayTestHold, relayLevel(was)),
		Values: map[string]any{"relay": name, "drivers": drivers, "was_on": was, "hold_ms": relayTestHold.Milliseconds()},
	}, nil
}

// relayTestAllowed refuses a relay test while audio is on air.
func (a *Agent) relayTestAllowed() *wire.Error {
	if it := a.seq.Item(); it != nil || !a.seq.Quiet(a.clk.Now()) {
		what := "audio"
		if it != nil {
			what = it.ID
		}
		return wire.Errf(wire.CodeBusy, "%s is on air: relays are tested while nothing plays (`stop` first)", what)
	}
	return nil
}

// setRelay drives one relay ("amp" or a zone) without telling the
// sequencer: restoreRelay puts it back to what the sequencer holds.
func (a *Agent) setRelay(name string, on bool) error {
	if name == "amp" {
		if err := a.hw.Amp.Set(on); err != nil {
			return fmt.Errorf("amp %s: %w", a.hw.Amp, err)
		}
		return nil
	}
	return a.setZone(name, on)
}

// restoreRelay puts a tested relay back to the level the output wants now
// (which an item started meanwhile may have changed).
func (a *Agent) restoreRelay(name string) error {
	if name == "amp" {
		return a.setRelay(name, a.seq.Amp())
	}
	return a.setRelay(name, a.seq.Relays()[name])
}

// TestTone plays a tone through the amplifier and every zone, as a normal
// item (so the priority ladder, the relays' sequencing and the playback
// log are those of any broadcast), and checks that it was heard whole.
func (b *consoleBackend) TestTone(ctx context.Context) (console.TestReport, error) {
	b.toneSeq++
	id := "console-tone-" + strconv.Itoa(b.toneSeq)
	var (
		e    *wire.Error
		item *ladder.Item
	)
	err := b.a.call(ctx, func() {
		a := b.a
		if e = a.audioReady(); e != nil {
			return
		}
		if it := a.seq.Item(); it != nil {
			e = wire.Errf(wire.CodeBusy, "%s is on air: the test tone plays while nothing else does (`stop` first)", it.ID)
			return
		}
		off := false
		it, pe := a.playItem(id, playargs.Play{Source: "tone:" + strconv.Itoa(toneTestHz), DurationS: toneTestDuration.Seconds(), Item: id, Chime: &off})
		if pe == nil {
			_, pe = a.offer(it, false)
		}
		e, item = pe, it
	})
	if err != nil {
		return console.TestReport{}, err
	}
	if e != nil {
		return console.TestReport{}, e
	}
	// The item leaves the output when it ends; its Played then says how
	// much of it was heard (a failed output plays less, or nothing).
	limit := b.a.clk.Now().Add(toneTestDuration + 30*time.Second)
	var played float64
	for gone := false; !gone; {
		if err := b.sleep(ctx, consolePoll); err != nil {
			return console.TestReport{}, err
		}
		if err := b.a.call(ctx, func() {
			if gone = b.a.findItem(id) == nil; gone {
				played = b.a.seconds(item.Played)
			}
		}); err != nil {
			return console.TestReport{}, err
		}
		if !gone && b.a.clk.Now().After(limit) {
			return console.TestReport{}, wire.Errf(wire.CodeInternal, "the test tone %s has not ended after %s (queued behind something?)", id, toneTestDuration+30*time.Second)
		}
	}
	if played < 0.9*toneTestDuration.Seconds() {
		return console.TestReport{}, wire.Errf(wire.CodeInternal, "only %.1f s of the %s test tone was played (see the play.end event of %s)", played, toneTestDuration, id)
	}
	zones := item.Zones
	return console.TestReport{
		Detail: fmt.Sprintf("%d Hz for %s through the amplifier and the zones %s", toneTestHz, toneTestDuration, strings.Join(zones, ", ")),
		Values: map[string]any{"hz": toneTestHz, "seconds": toneTestDuration.Seconds(), "played_s": played, "zones": zones, "item": id},
	}, nil
}

// TestModem reads the modem and checks that it has a SIM and a network.
func (b *consoleBackend) TestModem(ctx context.Context) (console.TestReport, error) {
	m := b.a.opts.Modem
	if m == nil {
		return console.TestReport{}, fmt.Errorf("modem: %w", hal.ErrAbsent)
	}
	rctx, cancel := context.WithTimeout(ctx, modemTestTimeout)
	defer cancel()
	r, err := m.Read(rctx)
	b.remember(r)
	if errors.Is(err, hal.ErrAbsent) {
		return console.TestReport{}, fmt.Errorf("modem: %w", err)
	}
	if err != nil {
		return console.TestReport{}, wire.Errf(wire.CodeInternal, "%s: %v", m, err)
	}
	vals := modemValues(r)
	switch {
	case r.SIM != nil && *r.SIM != hal.SIMReady:
		return console.TestReport{}, &wire.Error{Code: wire.CodeInternal, Message: fmt.Sprintf("%s: the SIM is %s", m, *r.SIM), Result: vals}
	case r.Registration == nil || !r.Registration.Registered():
		reg := "unknown"
		if r.Registration != nil {
			reg = string(*r.Registration)
		}
		return console.TestReport{}, &wire.Error{Code: wire.CodeInternal, Message: fmt.Sprintf("%s: not registered on a network (%s)", m, reg), Result: vals}
	}
	detail := fmt.Sprintf("%s: registered (%s)", m, *r.Registration)
	if r.Operator != nil {
		detail += " on " + *r.Operator
	}
	if r.RAT != nil {
		detail += ", " + *r.RAT
	}
	if r.RSRPdBm != nil {
		detail += fmt.Sprintf(", RSRP %g dBm", *r.RSRPdBm)
	} else if r.RSSIdBm != nil {
		detail += fmt.Sprintf(", RSSI %g dBm", *r.RSSIdBm)
	}
	return console.TestReport{Detail: detail, Values: vals}, nil
}

// modemValues are the reading's known values, for the technician.
func modemValues(r hal.ModemReading) map[string]any {
	v := map[string]any{}
	put := func(k string, p *string) {
		if p != nil {
			v[k] = *p
		}
	}
	put("vendor", r.Vendor)
	put("model", r.Model)
	put("imei", r.IMEI)
	put("iccid", r.ICCID)
	put("operator", r.Operator)
	put("rat", r.RAT)
	if r.RSSIdBm != nil {
		v["rssi_dbm"] = *r.RSSIdBm
	}
	if r.RSRPdBm != nil {
		v["rsrp_dbm"] = *r.RSRPdBm
	}
	if r.Registration != nil {
		v["registration"] = string(*r.Registration)
	}
	if r.SIM != nil {
		v["sim"] = string(*r.SIM)
	}
	return v
}

// TestBroker reports the agent's own MQTT link: it is the connection made
// with the saved configuration (provisioning restarts the agent), under
// the pole's identity. A second connection under the same identity would
// take the link's session over (with use_username_as_clientid the broker
// forces the client id), so the test never makes one. When the link is
// down it asks for a retry now and waits up to brokerWait.
func (b *consoleBackend) TestBroker(ctx context.Context) (console.TestReport, error) {
	var pending []string
	var brokers, user string
	err := b.a.call(ctx, func() {
		a := b.a
		for _, k := range a.pendingRestart() {
			if k == "topic_root" || strings.HasPrefix(k, "mqtt.") {
				pending = append(pending, k)
			}
		}
		brokers, user = redactAll(a.cfg.MQTT.AllBrokers()), a.cfg.MQTT.Username
	})
	if err != nil {
		return console.TestReport{}, err
	}
	if len(pending) > 0 {
		return console.TestReport{}, wire.Errf(wire.CodeBusy, "the saved configuration changes %s, which the link uses only after a restart: `restart`, then test again", strings.Join(pending, ", "))
	}
	link := b.a.link
	if !link.Stats().Connected {
		link.Retry()
		limit := b.a.clk.Now().Add(b.brokerWait)
		for !link.Stats().Connected {
			if !b.a.clk.Now().Before(limit) {
				why := link.LastError()
				if why == "" {
					why = "no answer yet"
				}
				return console.TestReport{}, wire.Errf(wire.CodeInternal, "not connected to %s after %s: %s", brokers, b.brokerWait, why)
			}
			if err := b.sleep(ctx, consolePoll); err != nil {
				return console.TestReport{}, err
			}
		}
	}
	st := link.Stats()
	detail := fmt.Sprintf("connected to %s as %s (session %d)", brokers, b.id, st.Session)
	vals := map[string]any{"broker": brokers, "client_id": b.id, "session": st.Session}
	if user != "" {
		detail += ", user " + user
		vals["username"] = user
	}
	return console.TestReport{Detail: detail, Values: vals}, nil
}

// Provision applies a whole configuration: checked completely first (a
// bad one changes nothing), its files installed beside the ones in force,
// then saved atomically on the Run goroutine (as config.set saves, so the
// two never interleave), and the agent restarts to bring all of it into
// force: a new id, broker and identity need a new link, and the hardware
// layout a new start.
func (b *consoleBackend) Provision(ctx context.Context, p console.Provisioning) (console.ProvisionReport, error) {
	var base *config.Config
	if err := b.a.call(ctx, func() { base = b.a.saved }); err != nil {
		return console.ProvisionReport{}, err
	}
	next, err := prepareProvision(base, p, b.a.opts.Pinned)
	if err != nil {
		return console.ProvisionReport{}, err
	}
	if err := installCredentials(next, p.Files); err != nil {
		return console.ProvisionReport{}, err
	}
	var changed []string
	var serr error
	err = b.a.call(ctx, func() {
		a := b.a
		if a.saved != base {
			serr = wire.Errf(wire.CodeBusy, "the configuration changed while this was checked (a config.set?); provision again")
			return
		}
		if changed, serr = commitProvision(b.configPath, base, next); serr != nil {
			return
		}
		a.saved = next
		a.consoleConfigChanged()
		if len(changed) > 0 {
			a.log.Info("provisioned", "id", next.ID, "keys", changed)
			a.event(wire.EventConfigChanged, map[string]any{"keys": changed, "restart_required": []string{}, "by": "provision"})
			a.restart = true
		}
	})
	if err != nil {
		// Perhaps saved: the files may be in force, so they stay.
		return console.ProvisionReport{}, err
	}
	if serr != nil {
		pruneCredentials(b.dataDir, base)
		return console.ProvisionReport{}, serr
	}
	pruneCredentials(b.dataDir, next)
	return console.ProvisionReport{ID: next.ID, Changed: changed, ConfigHash: next.Hash(), Restart: len(changed) > 0}, nil
}

// FactoryReset marks the data directory for a reset and restarts: the
// next start (FinishFactoryReset) puts the configuration back to its
// defaults and empties the data directory before anything opens it, so a
// power cut half-way only means the reset is finished at the next start.
func (b *consoleBackend) FactoryReset(ctx context.Context) error {
	if err := beginFactoryReset(b.dataDir, b.configPath); err != nil {
		return err
	}
	return b.a.call(ctx, func() {
		b.a.log.Warn("factory reset requested on the console: restarting to carry it out")
		b.a.restart = true
	})
}

func relayLevel(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
