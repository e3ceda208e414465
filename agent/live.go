package agent

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/loaxa/loaxa/agent/ladder"
	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/audio/live"
	"github.com/loaxa/loaxa/hal"
)

// This file is the agent's side of live items: their sources are opened
// when the play is accepted, so the jitter buffer takes frames from then
// (what is said while the amplifier warms up is played, late, then caught
// up on the talk's pauses), and handed to the player when it starts; and
// synchronised play-out, which needs a synchronised clock.

// liveOpen is a live item's source, opened ahead of the player.
type liveOpen struct {
	src    audio.Source
	cancel context.CancelFunc
	// taken: the player has it (and closes it).
	taken bool
}

// syncClockRefresh is how often a change of the clock's estimated error
// alone is handed to the Run goroutine (a change of synchronisation goes
// at once).
const syncClockRefresh = 30 * time.Second

// clockState is the last reading of the clock's synchronisation.
type clockState struct {
	st  hal.ClockStatus
	err error
}

// setupLive reads the clock once; the schedule's watchClock keeps the
// reading fresh.
func (a *Agent) setupLive() {
	a.live = map[string]*liveOpen{}
	a.clock = readClock(a.hw.Clock)
}

// changed reports a change that matters at once: synchronised or not, the
// source, readable or not (the estimated error drifts all the time).
func (c clockState) changed(old clockState) bool {
	return c.st.Synced != old.st.Synced || c.st.Source != old.st.Source || (c.err == nil) != (old.err == nil)
}

func readClock(c hal.SyncClock) clockState {
	if c == nil {
		return clockState{err: fmt.Errorf("this pole cannot tell whether its clock is synchronised")}
	}
	st, err := c.ClockStatus()
	return clockState{st: st, err: err}
}

// clockProblem says why the clock cannot carry synchronised play-out
// (a reason code and a sentence), or "" when it can.
func (a *Agent) clockProblem() (string, string) {
	cs := a.clock
	bound := time.Duration(a.cfg.Audio.SyncMaxErrorMS) * time.Millisecond
	switch {
	case cs.err != nil:
		return "clock_unknown", cs.err.Error()
	case !cs.st.Synced:
		return "clock_unsynced", fmt.Sprintf("the system clock is not synchronised (source %s)", cs.st.Source)
	case cs.st.MaxError > bound:
		return "clock_error", fmt.Sprintf("the clock's estimated error %v is above audio.sync_max_error_ms (%v)", cs.st.MaxError, bound)
	}
	return "", ""
}

// decideSync sets whether a live item plays in step: asked in the play,
// or by audio.sync_channels, and possible with the clock as it is now.
func (a *Agent) decideSync(it *ladder.Item, asked *bool) {
	ch, ok := liveChannel(it.Source)
	if !ok {
		return
	}
	it.Sync = slices.Contains(a.cfg.Audio.SyncChannels, ch)
	if asked != nil {
		it.Sync = *asked
	}
	it.SyncOff, it.SyncDelayMS = "", 0
	if it.Sync {
		it.SyncOff, _ = a.clockProblem()
		if it.SyncOff == "" {
			it.SyncDelayMS = a.cfg.Audio.SyncDelayMS
		}
	}
}

// syncEvent says, for a live item that asked for synchronised play-out,
// whether it plays in step (live.sync).
func (a *Agent) syncEvent(it *ladder.Item) {
	if !it.Sync {
		return
	}
	ch, _ := liveChannel(it.Source)
	data := map[string]any{"item": it.ID, "channel": ch, "sync": it.SyncOff == ""}
	if it.SyncOff == "" {
		data["delay_ms"] = it.SyncDelayMS
	} else {
		reason, detail := a.clockProblem()
		if reason == "" {
			reason, detail = it.SyncOff, ""
		}
		data["reason"], data["detail"] = reason, detail
		a.log.Warn("live item plays without synchronisation", "item", it.ID, "reason", reason, "detail", detail)
	}
	cs := a.clock
	if cs.err == nil {
		data["clock"] = map[string]any{"synced": cs.st.Synced, "max_error_ms": cs.st.MaxError.Milliseconds(), "source": cs.st.Source}
	}
	a.event("live.sync", data)
}

// liveRequest is the source request of a live item.
func (a *Agent) liveRequest(it *ladder.Item) SourceRequest {
	au := a.cfg.Audio
	req := SourceRequest{Source: it.Source, Format: a.player.Format(), Item: it.ID, Notify: a.notifier(it.ID),
		// What the start sequence takes, and a second more.
		Backlog: time.Duration(au.AmpWarmupMS+au.RelaySettleMS+2*au.FadeMS+au.BufferMS+1000) * time.Millisecond}
	if it.Sync && it.SyncOff == "" {
		req.Sync = time.Duration(it.SyncDelayMS) * time.Millisecond
		// In step, frames wait in the buffer for their time, D after
		// their capture: room for that too.
		req.Backlog += req.Sync
	}
	return req
}

// openLive opens a live item's source now, if it has none waiting.
func (a *Agent) openLive(it *ladder.Item) {
	if _, ok := liveChannel(it.Source); !ok || a.opts.OpenSource == nil || a.player == nil {
		return
	}
	if lo := a.live[it.ID]; lo != nil && !lo.taken {
		return
	}
	a.releaseLive(it.ID)
	ctx, cancel := context.WithCancel(context.Background())
	// For live: a Hub.OpenWith, which never blocks.
	src, err := a.opts.OpenSource(ctx, a.liveRequest(it))
	if err != nil {
		cancel()
		a.log.Warn("live source", "item", it.ID, "err", err)
		return
	}
	a.live[it.ID] = &liveOpen{src: src, cancel: cancel}
}

// takeLive hands the item's source to the player: the one opened when it
// was accepted, or (when the item comes back after an interruption) a
// new one. Nil when it has none (not live).
func (a *Agent) takeLive(it *ladder.Item) audio.Source {
	a.openLive(it)
	lo := a.live[it.ID]
	if lo == nil {
		return nil
	}
	lo.taken = true
	return lo.src
}

// releaseLive closes an item's source when the player does not have it,
// and forgets it.
func (a *Agent) releaseLive(id string) {
	lo := a.live[id]
	if lo == nil {
		return
	}
	if !lo.taken {
		lo.src.Close()
	}
	lo.cancel()
	delete(a.live, id)
}

// liveStats are the counters of the item on air, if it is live.
func (a *Agent) liveStats() (live.Stats, bool) {
	it := a.seq.Item()
	if it == nil {
		return live.Stats{}, false
	}
	lo := a.live[it.ID]
	if lo == nil {
		return live.Stats{}, false
	}
	s, ok := lo.src.(interface{ Stats() live.Stats })
	if !ok {
		return live.Stats{}, false
	}
	return s.Stats(), true
}

// liveTele is the live part of the audio telemetry, while a live item is
// on air.
func (a *Agent) liveTele() *wire.LiveTele {
	st, ok := a.liveStats()
	if !ok {
		return nil
	}
	it := a.seq.Item()
	ch, _ := liveChannel(it.Source)
	t := &wire.LiveTele{Channel: ch, LatencyMS: ms(st.Latency), Lost: st.Lost, Late: st.Late,
		Concealed: st.Concealed, Trimmed: st.Trimmed, Underruns: st.Underruns}
	if it.Sync && it.SyncOff == "" {
		off := ms(st.SyncOffset)
		t.SyncOffsetMS = &off
		t.InStep = &st.Sync
	}
	return t
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// syncDoc is the state's account of an item's synchronisation.
func syncDoc(it *ladder.Item, delayMS int) *wire.SyncInfo {
	if !it.Sync {
		return nil
	}
	if it.SyncOff != "" {
		return &wire.SyncInfo{On: false, Reason: it.SyncOff}
	}
	return &wire.SyncInfo{On: true, DelayMS: delayMS}
}

// timedLimit is limitSource for a timed source: duration_s counts what
// is heard.
type timedLimit struct {
	ts   audio.TimedSource
	left int64
}

func (l *timedLimit) Format() audio.Format { return l.ts.Format() }
func (l *timedLimit) Close() error         { return l.ts.Close() }
func (l *timedLimit) Read(p []int16) (int, error) {
	return l.read(p, func(p []int16) (int, error) { return l.ts.Read(p) })
}

func (l *timedLimit) ReadTimed(p []int16, at time.Time) (int, error) {
	return l.read(p, func(p []int16) (int, error) { return l.ts.ReadTimed(p, at) })
}

func (l *timedLimit) read(p []int16, read func([]int16) (int, error)) (int, error) {
	if l.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := read(p)
	l.left -= int64(n)
	if l.left <= 0 && err == nil {
		err = io.EOF
	}
	return n, err
}

// timedConcat plays a chime, then a timed source.
type timedConcat struct {
	first audio.Source
	ts    audio.TimedSource
}

func (c *timedConcat) Format() audio.Format { return c.ts.Format() }
func (c *timedConcat) Read(p []int16) (int, error) {
	return c.read(p, func(p []int16) (int, error) { return c.ts.Read(p) })
}

func (c *timedConcat) ReadTimed(p []int16, at time.Time) (int, error) {
	return c.read(p, func(p []int16) (int, error) { return c.ts.ReadTimed(p, at) })
}

func (c *timedConcat) read(p []int16, read func([]int16) (int, error)) (int, error) {
	if c.first != nil {
		n, err := c.first.Read(p)
		if err == io.EOF {
			c.first.Close()
			c.first, err = nil, nil
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
	return read(p)
}

func (c *timedConcat) Close() error {
	if c.first != nil {
		c.first.Close()
	}
	return c.ts.Close()
}
