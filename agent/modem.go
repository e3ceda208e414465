package agent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/loaxa/loaxa/agent/health"
	"github.com/loaxa/loaxa/agent/watchdog"
	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/hal"
	halmodem "github.com/loaxa/loaxa/hal/modem"
)

// This file is the Run goroutine's side of the 4G modem: a part reads the
// modem through a hal/modem Poller in its own goroutines and hands each
// sample to Run, which turns it into telemetry, the state's modem identity
// and the modem.* alarms. Run never talks to the modem itself: a modem
// that stopped answering costs it nothing.

// modemPart is what the Run goroutine knows of the modem. Every field is
// owned by Run.
type modemPart struct {
	poller *halmodem.Poller // nil until Run starts, and without a modem
	alarms *health.ModemAlarms
	// last is the latest sample; nil before the first one.
	last *halmodem.Sample
	// info is the modem's identity from its last good reading.
	info *wire.ModemInfo
	// seen: a reading succeeded since start; absent: why the board seems
	// to have no modem ("" when it has one, or may have).
	seen   bool
	absent string
}

// modemPolicy is the alarm policy of the configuration in force.
func (a *Agent) modemPolicy() health.ModemPolicy {
	p := health.DefaultModemPolicy()
	p.WeakRSRPdBm = float64(a.cfg.Modem.WeakRSRPdBm)
	p.UnregisteredAfter = secondsDur(a.cfg.Modem.UnregisteredS)
	return p
}

// setupModem registers the modem's part: a Poller and the goroutine that
// hands its samples and action results to Run. Called from New.
func (a *Agent) setupModem() {
	a.modem.alarms = health.NewModemAlarms(a.modemPolicy())
	m := a.opts.Modem
	if m == nil {
		return
	}
	interval := secondsDur(a.cfg.Modem.PollS)
	log := a.log.With("component", "modem")
	a.addPart(func(ctx context.Context, wg *sync.WaitGroup) {
		// Starters run on the Run goroutine: the poller is Run's to use.
		p := halmodem.StartPoller(ctx, m, halmodem.PollerOptions{Interval: interval, Clock: a.clk, Logger: log})
		a.modem.poller = p
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer p.Close()
			for {
				var f func()
				select {
				case <-ctx.Done():
					return
				case s := <-p.Readings():
					f = func() { a.modemSample(s) }
				case r := <-p.Results():
					f = func() { a.modemResult(r) }
				}
				if !a.Do(ctx, f) {
					return
				}
			}
		}()
	})
}

// modemSample takes one reading of the modem: alarms, degraded mode, the
// state's identity. Telemetry reads it when it is published.
func (a *Agent) modemSample(s halmodem.Sample) {
	a.modem.last = &s
	changed := false
	switch {
	case s.Err == nil:
		a.modem.seen = true
		if a.modem.absent != "" {
			a.modem.absent, changed = "", true
		}
		r := s.Reading
		info := &wire.ModemInfo{Model: modelOf(r), IMEI: r.IMEI, ICCID: r.ICCID, Operator: r.Operator}
		if !sameInfo(a.modem.info, info) {
			a.modem.info, changed = info, true
		}
	case errors.Is(s.Err, hal.ErrAbsent) && !a.modem.seen:
		// No modem found (yet: a USB modem enumerates seconds after
		// boot). Degraded, not failed: an Ethernet pole has none.
		if why := s.Err.Error(); why != a.modem.absent {
			a.modem.absent, changed = why, true
		}
	}
	if a.syncModemAlarms(a.modem.alarms.Update(s.Time, s.Reading, s.Err)) {
		changed = true
	}
	if changed {
		a.publishState()
	}
}

// syncModemAlarms raises and clears the modem.* alarms to match active,
// and reports whether any changed.
func (a *Agent) syncModemAlarms(active map[string]string) bool {
	changed := false
	for _, name := range []string{health.AlarmNoSIM, health.AlarmUnregistered, health.AlarmUnresponsive, health.AlarmWeakSignal} {
		detail, on := active[name]
		old, was := a.alarms[name]
		switch {
		case on && (!was || old.Detail != detail):
			a.raise(name, detail)
			changed = true
		case !on && was:
			a.clear(name)
			changed = true
		}
	}
	return changed
}

// modemResult takes the outcome of an action the watchdog asked of the
// modem.
func (a *Agent) modemResult(r halmodem.ActionResult) {
	step := watchdog.StepRadioCycle
	if r.Action == halmodem.ActionReset {
		step = watchdog.StepModemReset
	}
	if r.Err != nil && step == watchdog.StepModemReset && a.opts.ModemPower != nil {
		// The modem did not take AT+CFUN=1,1: cut its power instead.
		a.log.Warn("watchdog: modem reset failed, cycling its power", "err", r.Err)
		a.wdWork.post(wdJob{powerCycle: true})
		return
	}
	a.wdModemDone(step, r.Err)
}

// modemAct asks the poller to carry out act for a watchdog step.
func (a *Agent) modemAct(act halmodem.Action) error {
	switch {
	case a.opts.Modem == nil:
		return errors.New("this pole has no modem driver")
	case a.modem.poller == nil:
		return errors.New("the modem poller is not running")
	case !a.modem.poller.Do(act):
		return fmt.Errorf("the modem is busy with earlier requests; %s not queued", act)
	}
	return nil
}

// modemUsable reports whether asking the modem for a reset may work: it
// answered its last reading.
func (a *Agent) modemUsable() bool {
	return a.modem.poller != nil && a.modem.last != nil && a.modem.last.Err == nil
}

// modemTele is the telemetry's modem and gnss objects from the latest
// sample (what a failed sample could read before it failed, nothing more).
func (a *Agent) modemTele() (wire.ModemTele, wire.GNSSTele) {
	var mt wire.ModemTele
	var gt wire.GNSSTele
	if a.modem.last == nil {
		return mt, gt
	}
	r := a.modem.last.Reading
	mt = wire.ModemTele{
		RAT: r.RAT, RSSIdBm: r.RSSIdBm, RSRPdBm: r.RSRPdBm, RSRQdB: r.RSRQdB, SINRdB: r.SINRdB,
		Operator: r.Operator, Cell: r.Cell, ICCID: r.ICCID, IMEI: r.IMEI,
		MCC: r.MCC, MNC: r.MNC, TAC: r.TAC, APN: r.APN,
		Registration: (*string)(r.Registration), SIM: (*string)(r.SIM),
	}
	if g := r.GNSS; g != nil {
		gt = wire.GNSSTele{Fix: g.Fix && g.Lat != nil && g.Lon != nil}
		if gt.Fix {
			gt.Lat, gt.Lon = g.Lat, g.Lon
		}
	}
	return mt, gt
}

// modemInfo is the state's modem object (nil: never read).
func (a *Agent) modemInfo() *wire.ModemInfo { return a.modem.info }

// hardwareDoc is the state's hardware object: the parts missing at start,
// and the modem while none is found.
func (a *Agent) hardwareDoc() map[string]string {
	if len(a.opts.Missing) == 0 && a.modem.absent == "" {
		return nil
	}
	out := maps.Clone(a.opts.Missing)
	if out == nil {
		out = map[string]string{}
	}
	if a.modem.absent != "" {
		out["modem"] = a.modem.absent
	}
	return out
}

func modelOf(r hal.ModemReading) *string {
	var parts []string
	for _, p := range []*string{r.Vendor, r.Model} {
		if p != nil && *p != "" {
			parts = append(parts, *p)
		}
	}
	if len(parts) == 0 {
		return nil
	}
	s := parts[0]
	if len(parts) == 2 {
		s += " " + parts[1]
	}
	return &s
}

func sameInfo(a, b *wire.ModemInfo) bool {
	if a == nil || b == nil {
		return a == b
	}
	eq := func(x, y *string) bool { return x == nil && y == nil || x != nil && y != nil && *x == *y }
	return eq(a.Model, b.Model) && eq(a.IMEI, b.IMEI) && eq(a.ICCID, b.ICCID) && eq(a.Operator, b.Operator)
}

// modemPowerOff is how long a power cycle leaves the modem unpowered: long
// enough for its supply capacitors to drain.
const modemPowerOff = 5 * time.Second
