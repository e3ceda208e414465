package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/loaxa/loaxa/agent/ladder"
	"github.com/loaxa/loaxa/agent/watchdog"
	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/hal"
	halmodem "github.com/loaxa/loaxa/hal/modem"
	"github.com/loaxa/loaxa/internal/atomicfile"
	"github.com/loaxa/loaxa/internal/clock"
)

// This file is the connectivity watchdog: the Run goroutine feeds the
// ladder (agent/watchdog) the link's ups and downs and what is on air,
// and carries out the step it hands out. Reconnecting is the link's
// Redial; the radio cycle and the modem reset go to the modem's poller;
// the modem's power cycle, the reboot and the writing of watchdog.json go
// to the watchdog's worker goroutine, never done on Run.

// watchdogFile keeps, across reboots, the times of the reboots the
// watchdog asked for (the daily limit) and the steps not yet reported.
const watchdogFile = "watchdog.json"

// wdFileVersion is the version of watchdog.json.
const wdFileVersion = 1

// maxWdReboots and maxWdPending bound watchdog.json.
const (
	maxWdReboots = 32
	maxWdPending = 128
)

// wdDoc is watchdog.json.
type wdDoc struct {
	Version int `json:"version"`
	// Reboots are the times (ms epoch) of the reboots the watchdog asked
	// for in the last 24 hours.
	Reboots []int64 `json:"reboots"`
	// Pending are the steps taken and not yet reported.
	Pending []wdRecord `json:"pending"`
}

// wdRecord is a watchdog.Record as it is kept and reported.
type wdRecord struct {
	Step      string `json:"step"`
	At        int64  `json:"at"`
	DownSince int64  `json:"down_since"`
	Withheld  string `json:"withheld,omitempty"`
	Error     string `json:"error,omitempty"`
}

func recordOf(r watchdog.Record) wdRecord {
	return wdRecord{Step: r.Step.String(), At: r.At.UnixMilli(), DownSince: r.DownSince.UnixMilli(), Withheld: r.Withheld, Error: r.Err}
}

// wdState is what Run keeps of the watchdog.
type wdState struct {
	ladder *watchdog.Ladder
	cfg    watchdog.Config
	// downSince is when the broker became unreachable; zero while the
	// link is up.
	downSince time.Time
	timer     clock.Timer
	c         <-chan time.Time
	// reboots are the watchdog's reboots of the last 24 hours; carried
	// are the records a previous run left unreported.
	reboots []time.Time
	carried []wdRecord
	// saved is the watchdog.json last handed to the worker.
	saved []byte
	// updating is set while an update runs: no reboot then.
	updating bool
}

// setupWatchdog builds the ladder, reads watchdog.json and registers the
// worker. Called from New.
func (a *Agent) setupWatchdog() error {
	a.wd.cfg = a.cfg.Watchdog.Ladder()
	l, err := watchdog.New(a.wd.cfg)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	a.wd.ladder = l
	path := filepath.Join(a.cfg.DataDir, watchdogFile)
	doc, err := readWdDoc(path)
	if err != nil {
		a.log.Error("watchdog: previous reboots and steps forgotten", "err", err)
	}
	for _, ms := range doc.Reboots {
		a.wd.reboots = append(a.wd.reboots, time.UnixMilli(ms))
	}
	a.wd.carried = doc.Pending
	// What the file holds, as wdPersist would write it: an unchanged
	// document is not written again (nor created while empty).
	a.wd.saved = encodeWdDoc(doc.Reboots, doc.Pending)
	a.wdWork = newWdWorker()
	w, board, power, clk := a.wdWork, a.hw.Board, a.opts.ModemPower, a.clk
	a.addPart(func(ctx context.Context, wg *sync.WaitGroup) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run(ctx, a, path, board, power, clk)
		}()
	})
	return nil
}

// readWdDoc reads watchdog.json; a missing file is an empty document.
func readWdDoc(path string) (wdDoc, error) {
	doc := wdDoc{Version: wdFileVersion}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return doc, nil
	}
	if err != nil {
		return doc, fmt.Errorf("read %s: %w", path, err)
	}
	var d wdDoc
	if err := json.Unmarshal(b, &d); err != nil {
		return doc, fmt.Errorf("%s is not a watchdog document: %w", path, err)
	}
	if d.Version != wdFileVersion {
		return doc, fmt.Errorf("%s has version %d, want %d", path, d.Version, wdFileVersion)
	}
	if len(d.Reboots) > maxWdReboots {
		d.Reboots = d.Reboots[len(d.Reboots)-maxWdReboots:]
	}
	if len(d.Pending) > maxWdPending {
		d.Pending = d.Pending[len(d.Pending)-maxWdPending:]
	}
	return d, nil
}

// startWatchdog begins watching at Run's start: the link is not up yet,
// so the first outage counts from the start.
func (a *Agent) startWatchdog() {
	if a.wd.downSince.IsZero() && !a.link.Stats().Connected {
		a.wd.downSince = a.clk.Now()
	}
	a.wdEvaluate()
}

// wdLinkUp and wdLinkDown follow the link.
func (a *Agent) wdLinkUp() {
	a.wd.downSince = time.Time{}
	a.wdEvaluate()
}

func (a *Agent) wdLinkDown() {
	if a.wd.downSince.IsZero() {
		a.wd.downSince = a.clk.Now()
	}
	a.wdEvaluate()
}

// watchdogDue runs when the ladder's timer fires.
func (a *Agent) watchdogDue() {
	a.wd.c = nil
	a.wdEvaluate()
}

// setUpdating holds the watchdog's reboots as an update would (or lets
// them go at once when on is false). The updater's own state is read at
// every evaluation (updating); this is for a caller that knows of an
// update the updater does not, and for tests. Run's goroutine only.
func (a *Agent) setUpdating(on bool) {
	if a.wd.updating == on {
		return
	}
	a.wd.updating = on
	if !on {
		a.wdEvaluate() // a withheld reboot may go now
	}
}

// rebootHold says why the board must not reboot now ("" when it may): an
// update under way (agent/ota.go's updating, or setUpdating), an
// emergency or a live item on air.
func (a *Agent) rebootHold() string {
	if a.wd.updating || a.updating() {
		return "update"
	}
	if it := a.seq.Item(); it != nil {
		switch it.Level {
		case ladder.Emergency:
			return "emergency"
		case ladder.Live:
			return "live"
		}
	}
	return ""
}

// wdEvaluate asks the ladder what is due, carries it out, reports the
// records of an outage that ended, and arms the next evaluation.
func (a *Agent) wdEvaluate() {
	now := a.clk.Now()
	a.wd.reboots = slices.DeleteFunc(a.wd.reboots, func(t time.Time) bool { return !t.After(now.Add(-24 * time.Hour)) })
	d := a.wd.ladder.Evaluate(watchdog.Input{
		Now:          now,
		DownSince:    a.wd.downSince,
		RebootsToday: watchdog.CountSince(a.wd.reboots, now),
		Busy:         a.rebootHold(),
	})
	if a.wd.downSince.IsZero() {
		a.wdReport(d.Report, d.Dropped)
	} else if recs := a.wd.ladder.Pending(); len(recs) > 0 {
		if r := recs[len(recs)-1]; r.Withheld != "" && r.At.Equal(now) {
			a.log.Warn("watchdog: reboot withheld", "why", r.Withheld, "down_since", a.wd.downSince)
		}
	}
	a.wdTake(d.Step, now)
	a.wdArm(d.Next)
	a.wdPersist()
}

// wdTake carries out a step.
func (a *Agent) wdTake(s watchdog.Step, now time.Time) {
	if s == watchdog.StepNone {
		return
	}
	a.log.Warn("watchdog: broker unreachable, taking a step", "step", s.String(), "down_since", a.wd.downSince, "for", now.Sub(a.wd.downSince).Round(time.Second))
	var err error
	switch s {
	case watchdog.StepReconnect:
		if !a.link.Stats().Connected { // up already: its LinkUp is on its way
			a.link.Redial()
		}
	case watchdog.StepRadioCycle:
		err = a.modemAct(halmodem.ActionRadioCycle)
	case watchdog.StepModemReset:
		switch {
		case a.opts.ModemPower != nil && !a.modemUsable():
			// A modem that does not answer will not take AT+CFUN=1,1.
			a.wdWork.post(wdJob{powerCycle: true})
		default:
			err = a.modemAct(halmodem.ActionReset)
			if err != nil && a.opts.ModemPower != nil {
				a.wdWork.post(wdJob{powerCycle: true})
				err = nil
			}
		}
	case watchdog.StepReboot:
		if a.hw.Board == nil {
			err = errors.New("this agent has no board driver to reboot with")
			break
		}
		a.wd.reboots = append(a.wd.reboots, now)
		// watchdog.json (this reboot, the steps to report) is written
		// first: the worker saves before it reboots.
		a.wdPersist()
		a.wdWork.post(wdJob{reboot: true})
	}
	if err != nil {
		a.wd.ladder.Failed(s, err)
		a.log.Warn("watchdog: step failed", "step", s.String(), "err", err)
	}
}

// wdFailed notes that a step failed after it was handed out.
func (a *Agent) wdFailed(s watchdog.Step, err error) {
	a.log.Warn("watchdog: step failed", "step", s.String(), "err", err)
	a.wd.ladder.Failed(s, err)
	a.wdPersist()
}

// wdModemDone takes the end of a radio cycle or a modem reset (or power
// cycle). The modem attaches again within seconds to a minute: the link
// dials at once and backs off from its first step, rather than wait out a
// ceiling that grew while the network was away.
func (a *Agent) wdModemDone(s watchdog.Step, err error) {
	if err != nil {
		a.wdFailed(s, err)
		return
	}
	a.log.Info("watchdog: modem step done", "step", s.String())
	if !a.wd.downSince.IsZero() && !a.link.Stats().Connected {
		a.link.Redial()
	}
}

// wdArm sets the ladder's timer for at (zero: none).
func (a *Agent) wdArm(at time.Time) {
	if a.wd.timer != nil {
		a.wd.timer.Stop()
		a.wd.timer, a.wd.c = nil, nil
	}
	if at.IsZero() {
		return
	}
	a.wd.timer = a.clk.NewTimer(max(0, at.Sub(a.clk.Now())))
	a.wd.c = a.wd.timer.C()
}

// wdReport publishes the records of the outage that just ended, after
// those a previous run left, as watchdog.step events.
func (a *Agent) wdReport(recs []watchdog.Record, dropped int) {
	all := a.wd.carried
	a.wd.carried = nil
	for _, r := range recs {
		all = append(all, recordOf(r))
	}
	if dropped > 0 {
		a.log.Warn("watchdog: older steps of a long outage were not kept", "dropped", dropped)
	}
	for _, r := range all {
		data := map[string]any{"step": r.Step, "at": r.At, "down_since": r.DownSince}
		if r.Withheld != "" {
			data["withheld"] = r.Withheld
		}
		if r.Error != "" {
			data["error"] = r.Error
		}
		a.event(wire.EventWatchdogStep, data)
	}
}

// wdPersist hands watchdog.json to the worker when it changed.
func (a *Agent) wdPersist() {
	var reboots []int64
	for _, t := range a.wd.reboots {
		reboots = append(reboots, t.UnixMilli())
	}
	pending := slices.Clone(a.wd.carried)
	for _, r := range a.wd.ladder.Pending() {
		pending = append(pending, recordOf(r))
	}
	b := encodeWdDoc(reboots, pending)
	if bytes.Equal(b, a.wd.saved) {
		return
	}
	a.wd.saved = b
	a.wdWork.post(wdJob{save: b})
}

// encodeWdDoc is watchdog.json holding reboots and pending, bounded.
func encodeWdDoc(reboots []int64, pending []wdRecord) []byte {
	doc := wdDoc{Version: wdFileVersion, Reboots: []int64{}, Pending: []wdRecord{}}
	doc.Reboots = append(doc.Reboots, reboots[max(0, len(reboots)-maxWdReboots):]...)
	doc.Pending = append(doc.Pending, pending[max(0, len(pending)-maxWdPending):]...)
	b, err := json.Marshal(doc)
	if err != nil {
		panic("agent: watchdog document: " + err.Error()) // plain ints and strings
	}
	return b
}

// applyWatchdogConfig takes new thresholds from config.set. The steps of
// an outage under way are reported (they wait in the outbox if the link
// is down) and a new ladder starts from the same outage.
func (a *Agent) applyWatchdogConfig() {
	c := a.cfg.Watchdog.Ladder()
	if c == a.wd.cfg {
		return
	}
	l, err := watchdog.New(c)
	if err != nil {
		// config.set validated it: keep the ladder in force rather than none.
		a.log.Error("watchdog: new thresholds refused", "err", err)
		return
	}
	old := a.wd.ladder.Evaluate(watchdog.Input{Now: a.clk.Now()})
	a.wdReport(old.Report, old.Dropped)
	a.wd.cfg, a.wd.ladder = c, l
	a.wdEvaluate()
}

// wdJob is work for the watchdog's worker: disk and hardware.
type wdJob struct {
	save       []byte // watchdog.json to write
	powerCycle bool
	reboot     bool
}

// wdWorker carries out the watchdog's slow work in its own goroutine, in
// order: the file first (a reboot's record must be on disk before it),
// then the modem's power, then the reboot. Posting never blocks: jobs
// merge, a later save replacing an earlier one.
type wdWorker struct {
	mu   sync.Mutex // guards next
	next wdJob
	wake chan struct{}
}

func newWdWorker() *wdWorker { return &wdWorker{wake: make(chan struct{}, 1)} }

func (w *wdWorker) post(j wdJob) {
	w.mu.Lock()
	if j.save != nil {
		w.next.save = j.save
	}
	w.next.powerCycle = w.next.powerCycle || j.powerCycle
	w.next.reboot = w.next.reboot || j.reboot
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *wdWorker) take() wdJob {
	w.mu.Lock()
	defer w.mu.Unlock()
	j := w.next
	w.next = wdJob{}
	return j
}

// run serves jobs until ctx ends; a save still waiting then is written
// (it holds steps to report), the rest is dropped.
func (w *wdWorker) run(ctx context.Context, a *Agent, path string, board hal.Board, power hal.Output, clk clock.Clock) {
	for {
		select {
		case <-ctx.Done():
			if j := w.take(); j.save != nil {
				w.save(ctx, a, path, j.save)
			}
			return
		case <-w.wake:
		}
		j := w.take()
		if j.save != nil {
			w.save(ctx, a, path, j.save)
		}
		if j.powerCycle && power != nil {
			a.log.Warn("watchdog: cutting the modem's power", "relay", power.String(), "for", modemPowerOff)
			err := halmodem.PowerCycle(ctx, clk, power, modemPowerOff)
			if ctx.Err() == nil {
				a.Do(ctx, func() { a.wdModemDone(watchdog.StepModemReset, err) })
			}
		}
		if j.reboot && board != nil && ctx.Err() == nil {
			a.log.Warn("watchdog: rebooting the board", "board", board.String())
			if err := board.Reboot(); err != nil {
				a.Do(ctx, func() { a.wdFailed(watchdog.StepReboot, err) })
			}
		}
	}
}

func (w *wdWorker) save(ctx context.Context, a *Agent, path string, b []byte) {
	if _, err := atomicfile.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		a.log.Error("watchdog: cannot save its record", "err", err)
		a.Do(ctx, func() {
			a.wd.saved = nil // try again at the next change
			a.raise("storage", "cannot write "+watchdogFile+": "+err.Error())
		})
	}
}
