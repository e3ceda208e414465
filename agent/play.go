package agent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/loaxa/loaxa/internal/redact"

	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/audio/dsp"
	"github.com/loaxa/loaxa/audio/player"
	"github.com/loaxa/loaxa/internal/clock"
)

// phase is where the output sequence stands.
type phase int

const (
	phaseIdle     phase = iota // nothing plays; the amplifier may be on hold
	phaseWarming               // amplifier just powered, waiting for it
	phaseSettling              // zone relays just switched, waiting for them
	phasePlaying               // the player has the item
	phaseStopping              // the player fades the item out
	phaseMuting                // the player fades to silence so relays can switch mid-item
	phaseResettle              // relays switched mid-item, waiting before the fade back in
	phaseDraining              // an item ended; the device plays out its buffer before relays move
)

// ladder is the arbiter's state, owned by the Run goroutine.
type ladder struct {
	cur   *item
	phase phase
	queue []*item
	seq   uint64
	// relays is what the zone relays actually do: the manual zones (the
	// zones command) plus the zones of the item that plays.
	relays map[string]bool
	amp    bool

	seqTimer clock.Timer
	seqC     <-chan time.Time
	holdC    <-chan time.Time
	holdT    clock.Timer
	// playerHas is set while the player holds the current item (from
	// startPlayer until its Ended or Stopped): only then is it audible.
	playerHas bool
	// stopReason is why the current item is fading out (phaseStopping).
	stopReason string
	// runStart is when the current run of the current item became audible.
	runStart time.Time
	// ampReadyAt: the amplifier has warmed up; settledAt: the relays have
	// settled; quietAt: the device has played out the last audio written
	// before an end or a mute, so relays may move.
	ampReadyAt, settledAt, quietAt time.Time
	// afterQuiet continues the sequence once quietAt has passed.
	afterQuiet func()
	notes      chan note
}

// note is a source's report, carried from a reader goroutine to Run.
type note struct {
	item string
	kind string
	data map[string]any
}

func (a *Agent) audioReady() *wire.Error {
	if a.player == nil {
		why := a.opts.Missing["audio"]
		if why == "" {
			why = "no audio output configured"
		}
		return wire.Errf(wire.CodeUnsupported, "this pole has no audio output (%s)", why)
	}
	return nil
}

type playArgs struct {
	Source    string   `json:"source"`
	Priority  string   `json:"priority"`
	Origin    string   `json:"origin"`
	Zones     []string `json:"zones"`
	Volume    *int     `json:"volume"`
	Repeat    int      `json:"repeat"`
	DurationS float64  `json:"duration_s"`
	Until     int64    `json:"until"`
	Replace   bool     `json:"replace"`
	Chime     *bool    `json:"chime"`
	Item      string   `json:"item"`
}

// cmdPlay validates a play request and hands it to the ladder.
func (a *Agent) cmdPlay(c *wire.Command) (any, *wire.Error) {
	var args playArgs
	if e := wire.DecodeArgs(c.Args, &args); e != nil {
		return nil, e
	}
	if e := a.audioReady(); e != nil {
		return nil, e
	}
	now := a.clk.Now()
	it := &item{ID: args.Item, CmdID: c.ID, Source: args.Source, Origin: args.Origin, Volume: args.Volume, Repeat: args.Repeat}
	if it.ID == "" {
		it.ID = c.ID
	}
	if !itemRE.MatchString(it.ID) {
		return nil, wire.Errf(wire.CodeBadArgs, "item %q must be 1-64 chars of A-Z a-z 0-9 . _ : -", truncate(it.ID, 80))
	}
	if args.Source == "" {
		return nil, wire.Errf(wire.CodeBadArgs, `"source" is required`)
	}
	if err := checkSource(args.Source); err != nil {
		return nil, wire.Errf(wire.CodeBadArgs, "%v", err)
	}
	if args.Priority == "" {
		args.Priority = "normal"
	}
	lv, ok := parseLevel(args.Priority)
	if !ok {
		return nil, wire.Errf(wire.CodeBadArgs, "priority %q must be one of %v", truncate(args.Priority, 20), levelNames)
	}
	it.Level = lv
	if args.Origin != "" && originRank(args.Origin) == 0 {
		return nil, wire.Errf(wire.CodeBadArgs, `origin %q must be "province", "district" or "commune"`, truncate(args.Origin, 20))
	}
	if args.Volume != nil && (*args.Volume < 0 || *args.Volume > 100) {
		return nil, wire.Errf(wire.CodeBadArgs, "volume must be 0..100, got %d", *args.Volume)
	}
	if args.Repeat < 0 || args.Repeat > 1000 {
		return nil, wire.Errf(wire.CodeBadArgs, "repeat must be 0..1000, got %d", args.Repeat)
	}
	if args.DurationS < 0 || args.DurationS > 86400 {
		return nil, wire.Errf(wire.CodeBadArgs, "duration_s must be 0..86400, got %g", args.DurationS)
	}
	it.Duration = time.Duration(args.DurationS * float64(time.Second))
	if args.Until != 0 {
		it.Until = time.UnixMilli(args.Until)
		if !now.Before(it.Until) {
			return nil, wire.Errf(wire.CodeExpired, "until (%d) has passed: the item may no longer start", args.Until)
		}
	}
	if args.Zones == nil {
		it.Zones = a.cfg.ZoneNames()
	} else {
		for _, z := range args.Zones {
			if _, ok := a.zones[z]; !ok {
				return nil, wire.Errf(wire.CodeBadArgs, "unknown zone %q; this pole has %v", truncate(z, 32), a.cfg.ZoneNames())
			}
		}
		it.Zones = slices.Compact(slices.Sorted(slices.Values(args.Zones)))
		if len(it.Zones) == 0 {
			return nil, wire.Errf(wire.CodeBadArgs, `"zones" is empty: give at least one zone, or leave it out for all`)
		}
	}
	it.Chime = slices.Contains(a.cfg.Audio.Chime, it.Level.String())
	if args.Chime != nil {
		it.Chime = *args.Chime
	}
	if a.findItem(it.ID) != nil {
		return nil, wire.Errf(wire.CodeBadArgs, "item %q is already playing or queued; stop it first", it.ID)
	}
	if strings.HasPrefix(it.Source, "tone:") && it.Duration == 0 {
		// A test tone without a duration would sound until stopped.
		it.Duration = 5 * time.Second
	}
	a.lad.seq++
	it.Seq = a.lad.seq
	return a.offer(it, args.Replace)
}

// offer applies the ladder to a new item and answers with where it went.
func (a *Agent) offer(it *item, replace bool) (any, *wire.Error) {
	l := &a.lad
	cur := l.cur
	switch {
	case cur == nil:
		a.enqueue(it)
		a.advance()
	case l.phase == phaseStopping && l.stopReason == "stopped":
		// What plays is fading out for good: the newcomer waits only for
		// the fade, whatever its level.
		a.enqueue(it)
	case outranks(it, cur):
		a.enqueue(it)
		a.preempt("interrupted")
	case it.Level == cur.Level && replace:
		it.Front = true
		a.enqueue(it)
		a.preempt("replaced")
	case it.Level >= cur.Level || !it.Until.IsZero():
		a.enqueue(it)
	default:
		return nil, &wire.Error{Code: wire.CodeBusy,
			Message: fmt.Sprintf("%s is playing at priority %s; a %s item needs \"until\" to wait for it", cur.ID, cur.Level, it.Level),
			Result:  map[string]any{"playing": a.playingDoc()}}
	}
	a.log.Info("play", "item", it.ID, "source", redact.URL(it.Source), "priority", it.Level.String(), "origin", it.Origin)
	a.publishState()
	if l.cur == it || l.phase == phaseStopping && len(l.queue) > 0 && l.queue[0] == it {
		// Playing, or about to: what played is fading out for it.
		return map[string]any{"item": it.ID, "status": "playing"}, nil
	}
	return map[string]any{"item": it.ID, "status": "queued", "position": slices.Index(l.queue, it) + 1}, nil
}

func (a *Agent) enqueue(it *item) {
	a.lad.queue = append(a.lad.queue, it)
	slices.SortStableFunc(a.lad.queue, queueOrder)
	a.syncLive()
}

// preempt ends what plays now in favour of the head of the queue. An
// interrupted item goes back into the queue (it resumes when its turn
// comes, if its window is still open); a replaced one ends.
func (a *Agent) preempt(reason string) {
	l := &a.lad
	cur := l.cur
	switch {
	case l.phase == phaseStopping:
		// Already on its way out: when it is silent, advance picks the best
		// of the queue, the newcomer included. A stop overrides an
		// interruption: the item must not come back.
		if reason == "stopped" {
			l.stopReason = reason
		}
	case l.playerHas:
		l.phase = phaseStopping
		l.stopReason = reason
		a.player.Stop(cur.ID, a.fade())
	case reason == "interrupted":
		// Still warming up, settling or draining: nothing of it was heard,
		// so it simply waits its turn again (no interruption to report).
		l.cur = nil
		a.enqueue(cur)
		a.advance()
	default:
		a.endCurrent(cur, reason, 0, nil)
	}
}

// endCurrent closes the current item and moves on.
func (a *Agent) endCurrent(it *item, reason string, played int64, err error) {
	l := &a.lad
	if l.cur != it {
		return
	}
	l.cur = nil
	l.phase = phaseIdle
	l.stopReason = ""
	if l.playerHas {
		// Its last audio is still in the device: relays wait for it.
		l.quietAt = a.clk.Now().Add(a.outputLatency())
	}
	l.playerHas = false
	l.runStart = time.Time{}
	it.Played += max(0, played-it.chimeLen)
	if reason == "interrupted" && it.windowOpen(a.clk.Now()) {
		// The last moments before the cut were faded out: resume from where
		// the fade began, so the listener misses no word.
		if a.player != nil && isSeekable(it.Source) {
			f := a.player.Format()
			rewind := int64(a.fade().Seconds()*float64(f.Rate)) * int64(f.Channels)
			it.Played = max(0, it.Played-rewind)
		}
		it.Resumes++
		a.enqueue(it)
		a.playEvent("play.interrupted", it, map[string]any{"played_s": a.seconds(it.Played)})
	} else {
		data := map[string]any{"reason": reason, "played_s": a.seconds(it.Played)}
		if err != nil {
			data["error"] = err.Error()
		}
		a.playEvent("play.end", it, data)
	}
	a.syncLive()
	a.advance()
	a.publishState()
}

// advance starts the next item when nothing plays, or goes idle.
func (a *Agent) advance() {
	l := &a.lad
	if l.cur != nil {
		return
	}
	now := a.clk.Now()
	for len(l.queue) > 0 {
		it := l.queue[0]
		l.queue = l.queue[1:]
		if !it.windowOpen(now) {
			a.playEvent("play.end", it, map[string]any{"reason": "expired", "played_s": a.seconds(it.Played)})
			continue
		}
		l.cur = it
		a.syncLive()
		a.startSequence()
		return
	}
	a.goIdle()
}

// startSequence powers the amplifier, switches the zones and starts the
// player, each step after its delay: the amplifier's warm-up, the device
// playing out what it held (before relays move), the relays' settling.
func (a *Agent) startSequence() {
	l := &a.lad
	a.stopHold()
	if !l.amp {
		a.setAmp(true)
	}
	if wait := l.ampReadyAt.Sub(a.clk.Now()); wait > 0 {
		l.phase = phaseWarming
		a.arm(wait)
		return
	}
	a.afterWarm()
}

func (a *Agent) afterWarm() {
	a.whenQuiet(func() {
		l := &a.lad
		a.moveRelays()
		if wait := l.settledAt.Sub(a.clk.Now()); wait > 0 {
			l.phase = phaseSettling
			a.arm(wait)
			return
		}
		a.startPlayer()
	})
}

// whenQuiet runs f once relays may move: at once, unless the device is
// still playing out audio and f would move relays.
func (a *Agent) whenQuiet(f func()) {
	l := &a.lad
	if wait := l.quietAt.Sub(a.clk.Now()); wait > 0 && !maps.Equal(a.wantRelays(), l.relays) {
		l.phase = phaseDraining
		l.afterQuiet = f
		a.arm(wait)
		return
	}
	f()
}

func (a *Agent) startPlayer() {
	l := &a.lad
	it := l.cur
	l.phase = phasePlaying
	l.playerHas = true
	it.chimeLen = 0
	withChime := it.Chime && it.Played == 0 && it.Resumes == 0
	req := SourceRequest{Source: it.Source, Format: a.player.Format(), Item: it.ID, Notify: a.notifier(it.ID)}
	f := a.player.Format()
	var limit int64
	if it.Duration > 0 {
		limit = max(1, int64(it.Duration.Seconds()*float64(f.Rate))*int64(f.Channels)-it.Played)
	}
	skip := int64(0)
	if it.Played > 0 && isSeekable(it.Source) {
		skip = it.Played
	}
	var chime audio.Source
	if withChime {
		chime = a.chime(f)
		it.chimeLen = chimeSamples(chime)
	}
	open := a.opts.OpenSource
	repeat := it.Repeat
	a.player.Play(player.Item{
		ID:     it.ID,
		Gain:   a.itemGain(it),
		FadeIn: a.fade(),
		Open: func(ctx context.Context) (audio.Source, error) {
			src, err := openContent(ctx, open, req, skip, limit, repeat)
			if err != nil || chime == nil {
				return src, err
			}
			return concat(chime, src), nil
		},
	})
	a.playEvent("play.start", it, map[string]any{"resumed": it.Played > 0, "chime": withChime})
}

// goIdle returns the relays to the manual zones once the device has
// played out the last item, and starts the amplifier's hold time.
func (a *Agent) goIdle() {
	l := &a.lad
	l.phase = phaseIdle
	a.whenQuiet(a.moveRelays)
	if l.amp && l.holdC == nil {
		l.holdT = a.clk.NewTimer(time.Duration(a.cfg.Audio.AmpHoldS) * time.Second)
		l.holdC = l.holdT.C()
	}
}

func (a *Agent) stopHold() {
	l := &a.lad
	if l.holdT != nil {
		l.holdT.Stop()
	}
	l.holdT, l.holdC = nil, nil
}

// holdExpired powers the amplifier down after the hold time.
func (a *Agent) holdExpired() {
	l := &a.lad
	a.stopHold()
	if wait := l.quietAt.Sub(a.clk.Now()); wait > 0 || l.phase == phaseDraining {
		// The amplifier goes off only after the last audio has played out.
		l.holdT = a.clk.NewTimer(max(wait, a.outputLatency()))
		l.holdC = l.holdT.C()
		return
	}
	if a.lad.cur == nil && a.lad.amp {
		a.setAmp(false)
		a.publishState()
	}
}

func (a *Agent) setAmp(on bool) {
	l := &a.lad
	if a.hw.Amp != nil {
		if err := a.hw.Amp.Set(on); err != nil {
			a.raise("hardware", fmt.Sprintf("amp %s: %v", a.hw.Amp, err))
		}
	}
	l.amp = on
	if on {
		l.ampReadyAt = a.clk.Now().Add(time.Duration(a.cfg.Audio.AmpWarmupMS) * time.Millisecond)
	}
	if a.player != nil {
		a.player.KeepAlive(on)
	}
	a.log.Info("amplifier", "power", on)
}

// wantRelays is the manual zones plus those of the item being sequenced.
func (a *Agent) wantRelays() map[string]bool {
	want := maps.Clone(a.zones)
	if it := a.lad.cur; it != nil {
		for _, z := range it.Zones {
			want[z] = true
		}
	}
	return want
}

// applyRelays drives the zone relays to wantRelays; the caller guarantees
// the output is at silence. It reports whether any relay moved.
func (a *Agent) applyRelays() bool {
	want := a.wantRelays()
	moved := false
	for _, z := range a.cfg.ZoneNames() {
		if a.lad.relays[z] == want[z] {
			continue
		}
		if err := a.setZone(z, want[z]); err != nil {
			a.raise("hardware", err.Error())
			continue
		}
		a.lad.relays[z] = want[z]
		moved = true
	}
	if moved {
		a.lad.settledAt = a.clk.Now().Add(time.Duration(a.cfg.Audio.RelaySettleMS) * time.Millisecond)
	}
	return moved
}

// moveRelays drives the relays to wantRelays and republishes the state if
// any moved; the caller guarantees the output is silent.
func (a *Agent) moveRelays() {
	if a.applyRelays() {
		a.publishState()
	}
}

// relaysChanged is called when the manual zones changed: relays follow at
// once when nothing is audible, or after a fade to silence mid-item.
func (a *Agent) relaysChanged() {
	l := &a.lad
	switch {
	case l.phase == phaseDraining || l.phase == phaseWarming || l.phase == phaseStopping || l.phase == phaseMuting:
		// The pending step applies the relays when the output is silent.
	case l.playerHas:
		if !maps.Equal(a.wantRelays(), l.relays) {
			l.phase = phaseMuting
			a.player.Mute(a.fade())
		}
	case l.phase == phaseSettling:
		a.afterWarm()
	default:
		a.whenQuiet(a.moveRelays)
	}
}

func (a *Agent) arm(d time.Duration) {
	l := &a.lad
	if l.seqTimer != nil {
		l.seqTimer.Stop()
	}
	l.seqTimer = a.clk.NewTimer(d)
	l.seqC = l.seqTimer.C()
}

// seqFired continues the sequence after a delay.
func (a *Agent) seqFired() {
	l := &a.lad
	l.seqC = nil
	switch l.phase {
	case phaseWarming:
		a.afterWarm()
	case phaseSettling:
		a.startPlayer()
	case phaseResettle:
		l.phase = phasePlaying
		a.player.Unmute(a.fade())
	case phaseDraining:
		f := l.afterQuiet
		l.afterQuiet = nil
		l.phase = phaseIdle
		if l.playerHas {
			l.phase = phaseMuting // draining a mid-item mute: still muted
		}
		if f != nil {
			f()
		}
	}
}

// outputLatency is how long audio written to the device takes to be heard:
// its buffer plus one block of the player.
func (a *Agent) outputLatency() time.Duration {
	return time.Duration(a.cfg.Audio.BufferMS+10) * time.Millisecond
}

// playerEvent handles what the player reports.
func (a *Agent) playerEvent(ev player.Event) {
	l := &a.lad
	it := l.cur
	if it == nil || ev.ID != it.ID || !l.playerHas {
		return // a late report about an item already gone
	}
	switch ev.Kind {
	case player.Started:
		if it.Since.IsZero() {
			it.Since = ev.At
		}
		l.runStart = ev.At
		a.publishState()
	case player.Ended:
		reason := "completed"
		if ev.Err != nil {
			reason = "failed"
			a.log.Warn("item failed", "item", it.ID, "source", redact.URL(it.Source), "err", ev.Err)
		}
		if l.phase == phaseStopping && l.stopReason != "interrupted" {
			reason = l.stopReason // it was being stopped or replaced anyway
		}
		a.endCurrent(it, reason, ev.Played, ev.Err)
	case player.Stopped:
		a.endCurrent(it, l.stopReason, ev.Played, nil)
	case player.Silent:
		if l.phase == phaseMuting {
			// The fade to silence is written; the device plays it out, then
			// the relays move, settle, and the item fades back in.
			l.quietAt = a.clk.Now().Add(a.outputLatency())
			a.whenQuiet(func() {
				a.moveRelays()
				l.phase = phaseResettle
				a.arm(max(0, l.settledAt.Sub(a.clk.Now())))
			})
		}
	}
}

type stopArgs struct {
	Item     string `json:"item"`
	Priority string `json:"priority"`
}

// cmdStop stops one item, one level, or everything.
func (a *Agent) cmdStop(c *wire.Command) (any, *wire.Error) {
	var args stopArgs
	if e := wire.DecodeArgs(c.Args, &args); e != nil {
		return nil, e
	}
	if e := a.audioReady(); e != nil {
		return nil, e
	}
	if args.Item != "" && args.Priority != "" {
		return nil, wire.Errf(wire.CodeBadArgs, `give "item" or "priority", not both`)
	}
	match := func(it *item) bool { return true }
	if args.Item != "" {
		if a.findItem(args.Item) == nil {
			return nil, wire.Errf(wire.CodeBadArgs, "no item %q is playing or queued", truncate(args.Item, 64))
		}
		match = func(it *item) bool { return it.ID == args.Item }
	}
	if args.Priority != "" {
		lv, ok := parseLevel(args.Priority)
		if !ok {
			return nil, wire.Errf(wire.CodeBadArgs, "priority %q must be one of %v", truncate(args.Priority, 20), levelNames)
		}
		match = func(it *item) bool { return it.Level == lv }
	}
	l := &a.lad
	var stopped []string
	l.queue = slices.DeleteFunc(l.queue, func(it *item) bool {
		if match(it) {
			stopped = append(stopped, it.ID)
			a.playEvent("play.end", it, map[string]any{"reason": "stopped", "played_s": a.seconds(it.Played)})
			return true
		}
		return false
	})
	if cur := l.cur; cur != nil && match(cur) && !(l.phase == phaseStopping && l.stopReason == "stopped") {
		stopped = append(stopped, cur.ID)
		a.preempt("stopped")
	}
	a.syncLive()
	a.publishState()
	if stopped == nil {
		stopped = []string{}
	}
	return map[string]any{"stopped": stopped}, nil
}

func (a *Agent) findItem(id string) *item {
	if a.lad.cur != nil && a.lad.cur.ID == id {
		return a.lad.cur
	}
	for _, it := range a.lad.queue {
		if it.ID == id {
			return it
		}
	}
	return nil
}

// itemGain is the linear gain an item plays at: its own volume or the
// master volume, never below the emergency minimum for an emergency.
func (a *Agent) itemGain(it *item) float64 {
	v := a.volume
	if it.Volume != nil {
		v = *it.Volume
	}
	if it.Level == levelEmergency {
		v = max(v, a.cfg.Audio.EmergencyMinVolume)
	}
	return dsp.Gain(v)
}

func (a *Agent) fade() time.Duration { return time.Duration(a.cfg.Audio.FadeMS) * time.Millisecond }

func (a *Agent) seconds(samples int64) float64 {
	if a.player == nil {
		return 0
	}
	f := a.player.Format()
	return float64(samples) / float64(f.Rate*f.Channels)
}

// notifier returns the Notify callback of a source: it hands the report to
// the Run goroutine without ever blocking the reader for long.
func (a *Agent) notifier(id string) func(string, map[string]any) {
	return func(kind string, data map[string]any) {
		select {
		case a.lad.notes <- note{item: id, kind: kind, data: data}:
		default:
			a.log.Warn("source report dropped: agent busy", "item", id, "kind", kind)
		}
	}
}

// silenceOnExit fades out what plays and powers the amplifier down before
// the agent exits, so a stop or restart is not a cut at full level with the
// amplifier left on. It waits for the player at most a second.
func (a *Agent) silenceOnExit(events <-chan player.Event) {
	l := &a.lad
	if l.playerHas && l.cur != nil {
		a.player.Stop(l.cur.ID, a.fade())
		t := a.clk.NewTimer(time.Second)
		defer t.Stop()
	wait:
		for {
			select {
			case ev := <-events:
				if ev.ID == l.cur.ID && (ev.Kind == player.Stopped || ev.Kind == player.Ended) {
					break wait
				}
			case <-t.C():
				break wait
			}
		}
	}
	if l.amp {
		a.setAmp(false)
	}
}

// closeItems ends every item with reason as the agent stops, so an
// operator's playback records are closed (the link delivers these events
// before it says goodbye).
func (a *Agent) closeItems(reason string) {
	l := &a.lad
	if it := l.cur; it != nil {
		if !l.runStart.IsZero() && a.player != nil {
			f := a.player.Format()
			it.Played += int64(a.clk.Now().Sub(l.runStart).Seconds()*float64(f.Rate)) * int64(f.Channels)
		}
		a.playEvent("play.end", it, map[string]any{"reason": reason, "played_s": a.seconds(it.Played)})
		l.cur = nil
	}
	for _, it := range l.queue {
		a.playEvent("play.end", it, map[string]any{"reason": reason, "played_s": a.seconds(it.Played)})
	}
	l.queue = nil
}

// Report publishes an event from another goroutine (the live hub, say)
// through the Run goroutine; it never blocks, and drops the report (with a
// log line) when the agent is overwhelmed.
func (a *Agent) Report(kind string, data map[string]any) {
	select {
	case a.lad.notes <- note{kind: kind, data: data}:
	default:
		a.log.Warn("report dropped: agent busy", "kind", kind)
	}
}

// sourceNote turns a source's report into state and an event.
func (a *Agent) sourceNote(n note) {
	if it := a.findItem(n.item); it != nil && n.kind == "title" {
		if t, ok := n.data["title"].(string); ok && t != it.Title {
			it.Title = t
			a.publishState()
		}
	}
	data := maps.Clone(n.data)
	if data == nil {
		data = map[string]any{}
	}
	if n.item != "" {
		data["item"] = n.item
	}
	a.event(n.kind, data)
}

func (a *Agent) playEvent(typ string, it *item, extra map[string]any) {
	data := map[string]any{
		"item": it.ID, "cmd_id": it.CmdID, "source": redact.URL(it.Source), "priority": it.Level.String(),
		"origin": it.Origin, "zones": it.Zones,
	}
	if it.Title != "" {
		data["title"] = it.Title
	}
	maps.Copy(data, extra)
	a.event(typ, data)
}

// playingDoc is the state's "playing" object.
func (a *Agent) playingDoc() *wire.Playing {
	it := a.lad.cur
	if it == nil {
		return nil
	}
	return a.itemDoc(it)
}

func (a *Agent) itemDoc(it *item) *wire.Playing {
	p := &wire.Playing{Item: it.ID, Source: redact.URL(it.Source), Priority: it.Level.String(), Origin: it.Origin, Zones: it.Zones, Title: it.Title}
	if !it.Since.IsZero() {
		p.Since = it.Since.UnixMilli()
	}
	return p
}

func (a *Agent) queueDoc() []wire.Playing {
	out := make([]wire.Playing, 0, len(a.lad.queue))
	for _, it := range a.lad.queue {
		out = append(out, *a.itemDoc(it))
	}
	return out
}

// syncLive subscribes to the live channels of the items playing or queued,
// and to no other: live audio costs 4G data.
func (a *Agent) syncLive() {
	var chans []string
	add := func(it *item) {
		if ch, ok := liveChannel(it.Source); ok && !slices.Contains(chans, ch) {
			chans = append(chans, ch)
		}
	}
	if a.lad.cur != nil {
		add(a.lad.cur)
	}
	for _, it := range a.lad.queue {
		add(it)
	}
	slices.Sort(chans)
	a.link.SetLive(chans)
}

var errNoOpener = errors.New("no source opener configured")
