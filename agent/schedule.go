package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/loaxa/loaxa/agent/ladder"
	"github.com/loaxa/loaxa/agent/schedule"
	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/audio/media"
	"github.com/loaxa/loaxa/internal/atomicfile"
	"github.com/loaxa/loaxa/internal/clock"
)

// The broadcast schedule (issue 9): the pole runs its day alone. The
// document is stored as DATA_DIR/schedule.json (written on schedule.set
// and schedule.clear only); which occurrences were started, ended or
// missed is the Tracker's small state, kept with the persisted state. A
// scheduled occurrence becomes a play item whose id is its key
// (ITEM:YYYY-MM-DD) and offered to the ladder like a command's. Nothing
// scheduled plays while the clock is not synchronised.

// sched is the schedule part, owned by the Run goroutine.
type sched struct {
	tr *schedule.Tracker
	// clock is the last clock status seen (hal.Hardware.Clock through
	// schedule.ClockGate).
	clock schedule.ClockStatus
	timer clock.Timer
	c     <-chan time.Time
	// notBefore is the firmware's build time: a clock before it is wrong.
	notBefore time.Time
}

const (
	// clockPoll is how often the clock's synchronisation is read.
	clockPoll = 2 * time.Second
	// mediaRefresh is how often the files the schedule needs are pinned
	// and fetched ahead (also on every schedule change).
	mediaRefresh = time.Hour
)

func schedulePath(dataDir string) string { return filepath.Join(dataDir, "schedule.json") }

// buildTime reads the commit time the binary was built from, if known.
func buildTime() time.Time {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.time" {
				if t, err := time.Parse(time.RFC3339, s.Value); err == nil {
					return t
				}
			}
		}
	}
	return time.Time{}
}

// setupSchedule loads the schedule and its state; a damaged one raises
// the schedule alarm and the pole goes on with an empty schedule.
func (a *Agent) setupSchedule(st *schedule.State) {
	a.sch.notBefore = buildTime()
	a.sch.clock = schedule.ClockUnsynced
	s := schedule.Empty()
	data, err := os.ReadFile(schedulePath(a.cfg.DataDir))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		a.raise("schedule", "cannot read the stored schedule: "+err.Error())
	default:
		if s, err = schedule.Parse(data, schedule.Options{}); err != nil {
			a.raise("schedule", "the stored schedule is invalid, running none: "+err.Error())
			s = schedule.Empty()
		}
	}
	tr, err := schedule.NewTracker(s, st)
	if err != nil {
		a.raise("schedule", "the schedule's state is unreadable, starting afresh: "+err.Error())
		tr, _ = schedule.NewTracker(s, nil)
	}
	a.sch.tr = tr
	if a.hw.Clock != nil {
		a.addPart(a.watchClock)
	}
	a.addPart(func(ctx context.Context, wg *sync.WaitGroup) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := a.clk.NewTicker(mediaRefresh)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C():
					a.Do(ctx, a.refreshMedia)
				}
			}
		}()
	})
}

// watchClock reads the clock's synchronisation off the Run goroutine (a
// syscall, or a file under --sim) and hands changes to it.
func (a *Agent) watchClock(ctx context.Context, wg *sync.WaitGroup) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := a.clk.NewTicker(clockPoll)
		defer t.Stop()
		last := schedule.ClockStatus("")
		var lastRead clockState
		var lastSent time.Time
		for {
			// One reading serves the schedule's gate and synchronised live
			// play-out (which also weighs the estimated error).
			rd := readClock(a.hw.Clock)
			now := a.clk.Now()
			cs := schedule.ClockGate(rd.err == nil && rd.st.Synced, now, a.sch.notBefore)
			if cs != last || rd.changed(lastRead) || rd != lastRead && now.Sub(lastSent) >= syncClockRefresh {
				last, lastRead, lastSent = cs, rd, now
				if !a.Do(ctx, func() { a.clock = rd; a.clockChanged(cs) }) {
					return
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C():
			}
		}
	}()
}

// clockChanged follows the clock: unsynchronised holds the schedule (and
// says so in the state), synchronised lets it run.
func (a *Agent) clockChanged(cs schedule.ClockStatus) {
	if cs == a.sch.clock {
		return
	}
	a.sch.clock = cs
	a.log.Info("clock", "status", cs)
	if cs == schedule.ClockSynced {
		a.clear("clock.unsynced")
	} else if a.sch.tr.Schedule().Len() > 0 {
		a.raise("clock.unsynced", "the clock is not synchronised: scheduled items wait (commanded playback works)")
	}
	a.scheduleDecide()
	a.publishState()
}

// scheduleDecide evaluates the schedule now and re-arms its timer.
func (a *Agent) scheduleDecide() {
	a.sch.c = nil
	if a.sch.timer != nil {
		a.sch.timer.Stop()
	}
	now := a.clk.Now()
	a.scheduleResult(a.sch.tr.Decide(now, a.sch.clock))
	if a.sch.clock != schedule.ClockSynced {
		return
	}
	if next, ok := a.sch.tr.NextWake(now); ok {
		a.sch.timer = a.clk.NewTimer(max(0, next.Sub(now)))
		a.sch.c = a.sch.timer.C()
	}
}

// scheduleResult carries out the tracker's decisions and saves its state
// when it changed.
func (a *Agent) scheduleResult(r schedule.Result) {
	if r.Dropped > 0 {
		a.event("schedule.missed", map[string]any{"dropped": r.Dropped,
			"message": fmt.Sprintf("%d occurrences older than a week were missed while the agent was down", r.Dropped)})
	}
	version := a.sch.tr.Schedule().Version()
	for _, d := range r.Decisions {
		typ, data := d.Event(version)
		a.event(typ, data)
		if d.Kind == schedule.KindMissed {
			a.logMissed(occurrenceItem(d), "its window closed before it could start")
			continue
		}
		a.startOccurrence(d)
	}
	if r.Changed {
		a.persistSchedule()
	}
	if len(r.Decisions) > 0 {
		a.publishState()
	}
}

// occurrenceItem is what the log knows of an occurrence that never played.
func occurrenceItem(d schedule.Decision) *ladder.Item {
	it := &ladder.Item{ID: d.Key(), Source: d.Item.Source, Origin: d.Item.Origin, Zones: d.Item.Zones,
		Volume: d.Item.Volume, ScheduleItem: d.Item.ID, Scheduled: d.Start}
	it.Level = ladder.Normal
	if d.Item.Priority != "" {
		it.Level, _ = ladder.ParseLevel(d.Item.Priority)
	}
	return it
}

// startOccurrence offers an occurrence to the ladder, as a play command
// would, after checking that its file is in the cache (else the
// configured fallback, else silence, said and logged as such).
func (a *Agent) startOccurrence(d schedule.Decision) {
	now := a.clk.Now()
	p := d.Play(now)
	instead := ""
	if name, ok := strings.CutPrefix(p.Source, "file:"); ok {
		air := media.ResolveAir(filepath.Join(a.cfg.DataDir, "media"), name, "", a.cfg.Media.Fallback)
		if a.media != nil {
			air = a.media.Air(name, d.Item.SHA256, "", a.cfg.Media.Fallback)
		}
		if air.Missing {
			a.event("media.missing", air.MissingEvent(name, d.Key()))
		}
		if air.Source == "" {
			a.logPlay(occurrenceItem(d), "failed", 0, fmt.Errorf("media %s is not in the cache and no fallback is (media.fallback): nothing played", name))
			a.scheduleEnded(d.Key())
			return
		}
		if air.Source != p.Source {
			instead = p.Source
		}
		p.Source = air.Source
	}
	if e := a.audioReady(); e != nil {
		a.logPlay(occurrenceItem(d), "failed", 0, errors.New(e.Message))
		a.scheduleEnded(d.Key())
		return
	}
	it, e := a.playItem("", p)
	if e == nil {
		it.ScheduleItem, it.Scheduled, it.EndBy, it.Instead = d.Item.ID, d.Start, d.End, instead
		_, e = a.offer(it, p.Replace)
	}
	if e != nil {
		// Refused by the ladder (a higher item with no room) or by the
		// arguments: accounted for, not retried.
		a.log.Warn("scheduled item not played", "item", d.Key(), "err", e.Message)
		a.logPlay(occurrenceItem(d), "failed", 0, errors.New(e.Message))
		a.scheduleEnded(d.Key())
	}
}

// scheduleEnded tells the tracker an occurrence's item ended, so a restart
// does not play it again.
func (a *Agent) scheduleEnded(key string) {
	if a.sch.tr != nil && a.sch.tr.Ended(key) {
		a.persistSchedule()
	}
}

// persistSchedule saves the tracker's state with the persisted state.
func (a *Agent) persistSchedule() {
	if err := a.persist(); err != nil {
		a.log.Error("cannot save the schedule's state", "err", err)
	}
}

// refreshMedia pins the files the schedule still needs (the cache never
// evicts them) and fetches ahead those it will need within media.lead_h.
func (a *Agent) refreshMedia() {
	if a.media == nil {
		return
	}
	s := a.sch.tr.Schedule()
	now := a.clk.Now()
	at := now
	if a.sch.clock != schedule.ClockSynced {
		at = time.Time{} // the date cannot be trusted: pin everything
	}
	pins := s.Pinned(at)
	if a.cfg.Media.Fallback != "" {
		pins = append(pins, a.cfg.Media.Fallback)
	}
	a.media.SetPinned(pins)
	if a.sch.clock != schedule.ClockSynced {
		return
	}
	var reqs []media.Request
	for _, n := range s.MediaNeeds(now, time.Duration(a.cfg.Media.LeadH)*time.Hour) {
		reqs = append(reqs, media.Request{URL: n.URL, SHA256: n.SHA256, Name: n.Name})
	}
	a.media.Prefetch(reqs)
}

// cmdScheduleSet replaces the schedule with the document in args,
// validated as a whole: one bad item refuses it all, naming the item and
// the field.
func (a *Agent) cmdScheduleSet(c *wire.Command) (any, *wire.Error) {
	if len(c.Args) == 0 {
		return nil, wire.Errf(wire.CodeBadArgs, `args must be the schedule document: {"version":"…","items":[…]}`)
	}
	s, err := schedule.Parse(c.Args, schedule.Options{Zones: a.cfg.ZoneNames()})
	if err != nil {
		return nil, wire.Errf(wire.CodeBadArgs, "%v", err)
	}
	doc, err := json.Marshal(s)
	if err != nil {
		return nil, wire.Errf(wire.CodeInternal, "cannot encode the schedule: %v", err)
	}
	if _, err := atomicfile.WriteFile(schedulePath(a.cfg.DataDir), doc, 0o644); err != nil {
		a.storageFault(storageSchedule, "cannot save the schedule: "+err.Error())
		return nil, wire.Errf(wire.CodeInternal, "cannot save the schedule (%v); the previous one stays", err)
	}
	a.storageFault(storageSchedule, "")
	// A valid schedule replaces the one that could not be read.
	a.clear("schedule")
	a.scheduleResult(a.sch.tr.Replace(s, a.clk.Now(), a.sch.clock))
	a.scheduleDecide()
	a.refreshMedia()
	a.publishState()
	return a.scheduleSummary(), nil
}

// cmdScheduleGet answers the schedule document in force.
func (a *Agent) cmdScheduleGet(c *wire.Command) (any, *wire.Error) {
	if e := wire.DecodeArgs(c.Args, &struct{}{}); e != nil {
		return nil, e
	}
	return a.sch.tr.Schedule(), nil
}

// cmdScheduleClear removes the schedule: nothing more is started by it
// (what plays goes on until it ends or is stopped).
func (a *Agent) cmdScheduleClear(c *wire.Command) (any, *wire.Error) {
	if e := wire.DecodeArgs(c.Args, &struct{}{}); e != nil {
		return nil, e
	}
	if err := os.Remove(schedulePath(a.cfg.DataDir)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, wire.Errf(wire.CodeInternal, "cannot remove the stored schedule (%v); it stays", err)
	}
	a.clear("schedule")
	a.scheduleResult(a.sch.tr.Replace(schedule.Empty(), a.clk.Now(), a.sch.clock))
	a.scheduleDecide()
	a.refreshMedia()
	a.clear("clock.unsynced")
	a.publishState()
	return a.scheduleSummary(), nil
}

func (a *Agent) scheduleSummary() map[string]any {
	doc := a.scheduleDoc()
	return map[string]any{"version": doc.Version, "items": doc.Items, "clock": doc.Clock, "next": doc.Next, "next_item": doc.NextItem}
}

// scheduleDoc is the state's "schedule" object.
func (a *Agent) scheduleDoc() wire.ScheduleInfo {
	if a.sch.tr == nil {
		return wire.ScheduleInfo{Clock: string(schedule.ClockUnsynced)}
	}
	d := a.sch.tr.StateDoc(a.clk.Now(), a.sch.clock)
	return wire.ScheduleInfo{Version: d.Version, Clock: string(d.Clock), Next: d.Next, NextItem: d.NextItem, Items: d.Items}
}
