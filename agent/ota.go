package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loaxa/loaxa/agent/ladder"
	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/ota"
	"github.com/loaxa/loaxa/ota/supervisor"
)

// This file wires the over-the-air updater (package ota) into the agent:
// the ota command, the gaps in the programme the switch waits for, the
// health report that commits a new version on trial, and the switch
// itself (the agent stops and loaxad exits with supervisor.ExitSwitch).
// docs/ota.md has the whole picture.

// ErrSwitch is returned by Run when an installed release asks to be
// switched to: the caller exits with supervisor.ExitSwitch so the
// supervisor starts the new slot on trial.
var ErrSwitch = errors.New("agent: switch to the installed release")

// SupervisorConn is the agent's line to `loaxad supervise`
// (*supervisor.Conn implements it).
type SupervisorConn interface {
	ota.Supervisor
	// Info is what the supervisor started: slot, version, trial, its log.
	Info() ota.BootInfo
	// ReportStatus tells the supervisor what the agent waits for; it is
	// recorded with a rollback when the trial times out.
	ReportStatus(ctx context.Context, status string) error
	Close() error
}

// attachSupervisor is the default Options.Attach.
func attachSupervisor() (SupervisorConn, error) {
	c, err := supervisor.Attach()
	if c == nil || err != nil {
		return nil, err // never a typed nil in the interface
	}
	return c, nil
}

// otaSubmitWait bounds how long the ota command waits for the updater's
// verdict. The updater answers at once (a verification and one fsync);
// this only keeps Run from hanging on a wedged disk.
const otaSubmitWait = 10 * time.Second

// otaPart is the agent's side of the updater. Run's goroutine owns the
// fields below the channels; the part's own goroutine only moves
// messages between the updater, the supervisor and Run.
type otaPart struct {
	u    *ota.Updater
	conn SupervisorConn // nil when not started by the supervisor
	// changed, switchC: the updater's callbacks, which must not block;
	// status: what the agent waits for, for the supervisor (latest wins).
	changed chan struct{}
	switchC chan struct{}
	status  chan string
	// running is true while the updater's goroutine runs (set before it
	// starts): the ota command waits for an answer only then.
	running atomic.Bool

	// Owned by Run's goroutine.
	relays      error  // why the relays did not answer at start (nil: they did)
	healthy     bool   // reported healthy in this start
	busy        string // what the updater was last told plays
	scheduled   string // what the schedule says it has on air
	switchAsked bool   // the updater asked for the switch while something played
	switching   bool   // Run ends with ErrSwitch
}

// setupOTA builds the updater and registers its goroutines; New calls it
// last, once the relays were driven to their power-on levels.
func (a *Agent) setupOTA() {
	o := &otaPart{changed: make(chan struct{}, 1), switchC: make(chan struct{}, 1), status: make(chan string, 1)}
	a.ota = o
	attach := a.opts.Attach
	if attach == nil {
		attach = attachSupervisor
	}
	conn, err := attach()
	if err != nil {
		// Not fatal: the pole runs, updates are refused (unsupervised).
		a.log.Error("cannot attach to the supervisor; over-the-air updates are refused", "err", err)
		a.raise("ota", "cannot talk to the supervisor ("+err.Error()+"): over-the-air updates are refused until the agent restarts")
	}
	var boot ota.BootInfo
	var sup ota.Supervisor
	if conn != nil {
		o.conn, boot, sup = conn, conn.Info(), conn
	}
	keys, err := a.cfg.OTA.Validate()
	if err != nil { // validated with the configuration: cannot happen
		a.log.Error("ota keys", "err", err)
	}
	c := a.cfg.OTA
	o.u = ota.New(ota.Options{
		Layout:     ota.NewLayout(a.cfg.DataDir),
		Keys:       keys,
		Version:    a.opts.Version,
		Boot:       boot,
		Supervisor: sup,
		Clock:      a.clk,
		Log:        a.log,
		MaxSize:    int64(c.MaxSizeMB) << 20,
		Stall:      time.Duration(c.StallS) * time.Second,
		Report:     a.Report,
		Switch:     func() { poke(o.switchC) },
		OnChange:   func() { poke(o.changed) },
	})
	o.relays = a.probeRelays()
	if why := a.otaWaitsFor(false); why != "" {
		o.tell(why)
	}
	a.addPart(o.start(a))
}

// start returns the part's starter: the updater's goroutine and the
// part's own.
func (o *otaPart) start(a *Agent) func(ctx context.Context, wg *sync.WaitGroup) {
	return func(ctx context.Context, wg *sync.WaitGroup) {
		wg.Add(2)
		o.running.Store(true)
		go func() {
			defer wg.Done()
			defer o.running.Store(false)
			if err := o.u.Run(ctx); err != nil {
				a.log.Error("ota updater", "err", err)
			}
		}()
		go func() {
			defer wg.Done()
			o.loop(ctx, a)
		}()
	}
}

// loop carries the updater's callbacks to Run and the agent's status to
// the supervisor, until ctx ends.
func (o *otaPart) loop(ctx context.Context, a *Agent) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-o.changed:
			a.Do(ctx, a.publishState)
		case <-o.switchC:
			a.Do(ctx, a.otaSwitch)
		case s := <-o.status:
			if o.conn == nil {
				continue
			}
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if err := o.conn.ReportStatus(sctx, s); err != nil && ctx.Err() == nil {
				a.log.Warn("cannot tell the supervisor what the agent waits for", "status", s, "err", err)
			}
			cancel()
		}
	}
}

// poke signals c without blocking.
func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// tell queues what the agent waits for, for the supervisor; only a
// version on trial says it (it is recorded if the trial times out).
func (o *otaPart) tell(status string) {
	if o.conn == nil || !o.conn.Info().Trial {
		return
	}
	for {
		select {
		case o.status <- status:
			return
		default:
		}
		select { // replace the older status nobody sent yet
		case <-o.status:
		default:
		}
	}
}

// closeOTA releases the supervisor connection (not the inherited
// descriptor: an agent that re-executes itself attaches again). Safe to
// call twice.
func (a *Agent) closeOTA() {
	if a.ota != nil && a.ota.conn != nil {
		a.ota.conn.Close()
	}
}

// probeRelays drives every relay once more to the level New just gave it:
// a relay that answers then is one the agent can switch. Setting the level
// a relay already has makes no glitch (hal.Output).
func (a *Agent) probeRelays() error {
	if a.hw.Amp == nil {
		return fmt.Errorf("no amplifier relay driver (%s)", a.missingSummary())
	}
	if err := a.hw.Amp.Set(false); err != nil {
		return fmt.Errorf("amp %s: %w", a.hw.Amp, err)
	}
	for _, z := range a.cfg.ZoneNames() {
		if len(a.hw.Zones[z]) == 0 {
			return fmt.Errorf("zone %s has no relay driver (%s)", z, a.missingSummary())
		}
		if err := a.setZone(z, a.zones[z]); err != nil {
			return err
		}
	}
	return nil
}

// otaWaitsFor says what keeps the agent from being healthy (the relays,
// the broker), or "" when it is healthy. The audio device needs no check
// here: it is opened before the agent is built, and one that exists but
// fails to open stops loaxad (status 1), which on trial is a crash; a pole
// without one (Missing["audio"]) is healthy without it.
func (a *Agent) otaWaitsFor(connected bool) string {
	switch {
	case a.ota.relays != nil:
		return "relays did not answer: " + a.ota.relays.Error()
	case !connected:
		return "broker not connected"
	}
	return ""
}

// otaConnected is called on every connection to the broker: the first
// time the agent is healthy in this start, it tells the updater, which
// tells the supervisor (and a version on trial is committed).
func (a *Agent) otaConnected() {
	o := a.ota
	if o == nil || o.healthy {
		return
	}
	if why := a.otaWaitsFor(true); why != "" {
		a.log.Warn("not healthy: a new version on trial will be rolled back", "waiting_for", why)
		o.tell(why)
		return
	}
	o.healthy = true
	o.u.Healthy()
}

// otaSwitch runs on Run when the updater asks for the switch: the agent
// stops (closing what plays) and loaxad exits with ExitSwitch. If
// something that must not be cut started since the updater saw the gap,
// the switch waits for the next gap.
func (a *Agent) otaSwitch() {
	o := a.ota
	if o.busy != "" {
		o.switchAsked = true
		a.log.Info("switch to the new version waits for the end of what plays", "playing", o.busy)
		return
	}
	o.switchAsked = false
	o.switching = true
	a.restart = true
	a.log.Info("stopping to switch to the installed release")
}

// stopError is what Run returns when it ends on its own: a restart, or a
// switch to an installed release.
func (a *Agent) stopError() error {
	if a.ota != nil && a.ota.switching {
		return ErrSwitch
	}
	return ErrRestart
}

// otaSyncBusy tells the updater what plays that must not be cut by the
// switch: an emergency, a live relay, a scheduled item. apply calls it
// after every change of the ladder; it costs a comparison when nothing
// changed.
func (a *Agent) otaSyncBusy() {
	o := a.ota
	if o == nil {
		return
	}
	why := busyReason(a.seq.Item())
	if why == "" && o.scheduled != "" {
		why = "scheduled " + o.scheduled
	}
	if why == o.busy {
		return
	}
	o.busy = why
	o.u.SetBusy(why)
	if why == "" && o.switchAsked {
		a.otaSwitch()
	}
}

// scheduleBusy is for the schedule: it says that a scheduled programme is
// on air (what names it) even between its items, or "" when it ends. The
// switch to a new version waits while it is set. Items the schedule puts
// on the ladder are recognised by themselves (busyReason); call this only
// to hold the switch beyond them. Run's goroutine only.
func (a *Agent) scheduleBusy(what string) {
	if a.ota == nil || a.ota.scheduled == what {
		return
	}
	a.ota.scheduled = what
	a.otaSyncBusy()
}

// busyReason is what an item on air says to the updater: "emergency",
// "live", "scheduled ITEM" for an item the schedule started (no command
// id, an id of the form "ID:YYYY-MM-DD"), or "" for anything that an
// update may cut.
func busyReason(it *ladder.Item) string {
	switch {
	case it == nil:
		return ""
	case it.Level == ladder.Emergency:
		return "emergency"
	case it.Level == ladder.Live:
		return "live"
	case isScheduled(it):
		return "scheduled " + it.ID
	}
	return ""
}

// isScheduled recognises an item of the local schedule: the schedule
// names its occurrences "ITEM:YYYY-MM-DD" and they come with no command.
func isScheduled(it *ladder.Item) bool {
	if it.CmdID != "" {
		return false
	}
	i := len(it.ID) - len("2006-01-02")
	if i < 2 || it.ID[i-1] != ':' {
		return false
	}
	_, err := time.Parse("2006-01-02", it.ID[i:])
	return err == nil
}

// updating reports whether an update is under way: a release was accepted
// and is being downloaded, installed, waits for a gap, is being switched
// to, or runs on trial. The watchdog reads it (Run's goroutine or any
// other: Status is safe for concurrent use) so that it does not reboot
// the board in the middle of a switch or a trial.
func (a *Agent) updating() bool {
	if a.ota == nil {
		return false
	}
	s := a.ota.u.Status()
	if s.Trial || s.Slot == "" && a.ota.conn != nil && a.ota.conn.Info().Trial {
		return true // on trial (the second case: the updater has not loaded yet)
	}
	switch s.State {
	case ota.StateVerified, ota.StateDownloading, ota.StateDownloaded, ota.StateInstalled, ota.StateSwitching, ota.StateTrial:
		return true
	}
	return false
}

// otaStatus is the state document's "ota" object.
func (a *Agent) otaStatus() *ota.Status {
	if a.ota == nil {
		return nil
	}
	s := a.ota.u.Status()
	return &s
}

// cmdOTA hands a signed release manifest (the command's args) to the
// updater. Every refusal has its own code: the ack's error code is the
// protocol's (bad_args for a manifest refused, busy, unsupported,
// internal), its message starts with the OTA code ("unknown_key: ...")
// and result.reason carries that code alone. A refused manifest changes
// nothing.
func (a *Agent) cmdOTA(c *wire.Command) (any, *wire.Error) {
	var acc ota.Accepted
	var err error
	ctx, cancel := context.WithTimeout(context.Background(), otaSubmitWait)
	defer cancel()
	switch {
	case a.ota.conn == nil:
		// What the updater would answer, without waiting for it.
		err = fmt.Errorf("%w: start the agent with `loaxad supervise` (the systemd unit does) to update it over the air", ota.ErrUnsupervised)
	case !a.ota.running.Load():
		err = ota.ErrClosed
	default:
		acc, err = a.ota.u.Submit(ctx, c.Args)
	}
	if err == nil {
		a.log.Info("release accepted", "version", acc.Version, "state", acc.State, "resumed", acc.Resumed)
		return acc, nil
	}
	if ctx.Err() != nil {
		return nil, wire.Errf(wire.CodeInternal, "the updater did not answer within %v; see the ota events and the state for where the update stands", otaSubmitWait)
	}
	code := ota.Code(err)
	a.log.Info("release refused", "code", code, "err", err)
	return nil, &wire.Error{Code: wire.Code(ota.AckCode(err)), Message: code + ": " + err.Error(), Result: map[string]any{"reason": code}}
}
