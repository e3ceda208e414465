package agent

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/loaxa/loaxa/agent/ladder"
	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/audio/dsp"
	"github.com/loaxa/loaxa/audio/player"
	"github.com/loaxa/loaxa/internal/redact"
)

// This file is the owner goroutine's side of the audio output: it carries
// out what the sequencer decides (ladder.Effect) on the amplifier, the
// relays and the player, and turns what comes back (player events, timers)
// into the sequencer's inputs. The policy itself is in agent/ladder.

// note is a source's report, carried from a reader goroutine to Run.
type note struct {
	item string
	kind string
	data map[string]any
}

// timings are the sequencer's delays from the configuration.
func (a *Agent) timings() ladder.Timings {
	au := a.cfg.Audio
	return ladder.Timings{
		Warmup: time.Duration(au.AmpWarmupMS) * time.Millisecond,
		Settle: time.Duration(au.RelaySettleMS) * time.Millisecond,
		Fade:   a.fade(),
		Hold:   time.Duration(au.AmpHoldS) * time.Second,
		Drain:  a.outputLatency(),
	}
}

// apply carries out the sequencer's effects in order.
func (a *Agent) apply(fx []ladder.Effect) {
	for _, e := range fx {
		switch e := e.(type) {
		case ladder.SetAmp:
			a.setAmp(e.On)
		case ladder.SetRelays:
			a.setRelays(e.Zones)
		case ladder.Play:
			a.startPlayer(e.Item)
		case ladder.FadeOut:
			a.player.Stop(e.Item.ID, e.Fade)
		case ladder.Mute:
			a.player.Mute(e.Fade)
		case ladder.Unmute:
			a.player.Unmute(e.Fade)
		case ladder.Arm:
			if a.seqTimer != nil {
				a.seqTimer.Stop()
			}
			a.seqTimer = a.clk.NewTimer(e.After)
			a.seqC = a.seqTimer.C()
		case ladder.ArmHold:
			a.stopHold()
			a.holdTimer = a.clk.NewTimer(e.After)
			a.holdC = a.holdTimer.C()
		case ladder.CancelHold:
			a.stopHold()
		case ladder.Done:
			a.itemDone(e)
		default:
			panic(fmt.Sprintf("agent: unknown effect %T", e))
		}
	}
	a.otaSyncBusy()
}

func (a *Agent) stopHold() {
	if a.holdTimer != nil {
		a.holdTimer.Stop()
	}
	a.holdTimer, a.holdC = nil, nil
}

// advance starts the head of the queue when nothing is on air, or lets the
// output go idle.
func (a *Agent) advance() {
	if a.seq.Item() != nil {
		return
	}
	now := a.clk.Now()
	next, expired := a.queue.Pop(now)
	for _, it := range expired {
		a.playEvent("play.end", it, map[string]any{"reason": "expired", "played_s": a.seconds(it.Played)})
		a.logPlay(it, "expired", 0, nil)
	}
	if next == nil {
		a.apply(a.seq.Idle(now))
		return
	}
	fx := a.seq.Start(now, next)
	a.syncLive() // with next on air
	a.apply(fx)
}

// itemDone closes an item that left the output, or puts it back in the
// queue when it was interrupted and may resume, then moves on.
func (a *Agent) itemDone(d ladder.Done) {
	it := d.Item
	now := a.clk.Now()
	switch {
	case d.Reason == "interrupted" && !d.Heard:
		// Nothing of it was heard: it simply waits its turn again (no
		// interruption to report, and it keeps its chime).
		a.queue.Push(it)
	case d.Reason == "interrupted" && it.WindowOpen(now):
		// The last moments before the cut were faded out: resume from where
		// the fade began, so the listener misses no word.
		if a.player != nil && isSeekable(it.Source) {
			f := a.player.Format()
			rewind := int64(a.fade().Seconds()*float64(f.Rate)) * int64(f.Channels)
			it.Played = max(0, it.Played-rewind)
		}
		it.Resumes++
		a.queue.Push(it)
		a.playEvent("play.interrupted", it, map[string]any{"played_s": a.seconds(it.Played)})
		a.logPlay(it, "interrupted", d.Played, nil)
	default:
		data := map[string]any{"reason": d.Reason, "played_s": a.seconds(it.Played)}
		if d.Err != nil {
			a.log.Warn("item failed", "item", it.ID, "source", redact.URL(it.Source), "err", d.Err)
			data["error"] = d.Err.Error()
		}
		a.playEvent("play.end", it, data)
		a.logPlay(it, d.Reason, d.Played, d.Err)
	}
	a.syncLive()
	a.advance()
	a.publishState()
}

// startPlayer hands the item to the player: its content, resumed where it
// was cut (files and tones), limited to its duration, after a chime when
// it is announced.
func (a *Agent) startPlayer(it *ladder.Item) {
	f := a.player.Format()
	withChime := it.Chime && it.Played == 0 && it.Resumes == 0
	req := SourceRequest{Source: it.Source, Format: f, Item: it.ID, Notify: a.notifier(it.ID)}
	var limit int64
	if it.Duration > 0 {
		limit = max(1, int64(it.Duration.Seconds()*float64(f.Rate))*int64(f.Channels)-it.Played)
	}
	if !it.EndBy.IsZero() {
		left := max(1, int64(it.EndBy.Sub(a.clk.Now()).Seconds()*float64(f.Rate))*int64(f.Channels))
		if limit == 0 || left < limit {
			limit = left
		}
	}
	skip := int64(0)
	if it.Played > 0 && isSeekable(it.Source) {
		skip = it.Played
	}
	var chime audio.Source
	if withChime {
		chime = a.chime(f)
		it.ChimeLen = chimeSamples(chime)
	}
	open := a.opts.OpenSource
	repeat := it.Repeat
	pre := a.takeLive(it)
	if pre != nil {
		req = a.liveRequest(it) // a repeat opens the channel again alike
	}
	a.player.Play(player.Item{
		ID:     it.ID,
		Gain:   a.itemGain(it),
		FadeIn: a.fade(),
		Open: func(ctx context.Context) (audio.Source, error) {
			var src audio.Source
			var err error
			if pre != nil {
				src, err = wrapContent(ctx, open, req, pre, skip, limit, repeat)
			} else {
				src, err = openContent(ctx, open, req, skip, limit, repeat)
			}
			if err != nil || chime == nil {
				return src, err
			}
			return concat(chime, src), nil
		},
	})
	a.playEvent("play.start", it, map[string]any{"resumed": it.Played > 0, "chime": withChime})
}

func (a *Agent) setAmp(on bool) {
	if a.hw.Amp != nil {
		if err := a.hw.Amp.Set(on); err != nil {
			a.raise("hardware", fmt.Sprintf("amp %s: %v", a.hw.Amp, err))
		}
	}
	if a.player != nil {
		a.player.KeepAlive(on)
	}
	a.log.Info("amplifier", "power", on)
}

// setRelays switches zone relays at silence; a relay that fails keeps its
// level (the sequencer tries again at the next move) and raises an alarm.
func (a *Agent) setRelays(moves []ladder.Relay) {
	moved := false
	for _, m := range moves {
		if err := a.setZone(m.Zone, m.On); err != nil {
			a.raise("hardware", err.Error())
			a.seq.RelayFailed(m.Zone, !m.On)
			continue
		}
		moved = true
	}
	if moved {
		a.publishState()
	}
}

// outputLatency is how long audio written to the device takes to be heard:
// its buffer plus one block of the player.
func (a *Agent) outputLatency() time.Duration {
	return time.Duration(a.cfg.Audio.BufferMS+10) * time.Millisecond
}

// playerEvent hands what the player reports to the sequencer.
func (a *Agent) playerEvent(ev player.Event) {
	now := a.clk.Now()
	switch ev.Kind {
	case player.Started:
		if a.seq.PlayerStarted(ev.At, ev.ID) {
			a.runStarted(a.seq.Item())
			a.publishState()
		}
	case player.Ended:
		a.apply(a.seq.PlayerEnded(now, ev.ID, ev.Played, ev.Err))
	case player.Stopped:
		a.apply(a.seq.PlayerStopped(now, ev.ID, ev.Played))
	case player.Silent:
		a.apply(a.seq.PlayerSilent(now, ev.ID))
	}
}

// seqFired continues the sequence when its timer fires.
func (a *Agent) seqFired() {
	a.seqC = nil
	a.apply(a.seq.Timer(a.clk.Now()))
}

// holdExpired powers the amplifier down after its hold time.
func (a *Agent) holdExpired() {
	a.holdC = nil
	amp := a.seq.Amp()
	a.apply(a.seq.Hold(a.clk.Now()))
	if amp != a.seq.Amp() {
		a.publishState()
	}
}

// itemGain is the linear gain an item plays at: the level itemVolume
// gives it (its own volume or the master volume, never below the emergency
// minimum for an emergency, never above the thermal cap: a board that
// shuts down from heat plays nothing at all), so that the playback log
// records what was heard.
func (a *Agent) itemGain(it *ladder.Item) float64 {
	return dsp.Gain(a.itemVolume(it))
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
		if !a.notes.put(note{item: id, kind: kind, data: data}) {
			a.log.Warn("source report dropped: agent busy", "item", id, "kind", kind)
		}
	}
}

// Report publishes an event from another goroutine (the live hub, say)
// through the Run goroutine; it never blocks, and drops the report (with a
// log line) only when maxNotes reports are already waiting.
func (a *Agent) Report(kind string, data map[string]any) {
	if !a.notes.put(note{kind: kind, data: data}) {
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

// shutdown fades out what plays, closes every item with reason (so an
// operator's playback records are closed; the link delivers these events
// before it says goodbye) and powers the amplifier down, so a stop or
// restart is not a cut at full level with the amplifier left on. It waits
// for the player's fade at most a second.
func (a *Agent) shutdown(reason string, events <-chan player.Event) {
	// Reports queued before the stop (the updater's ota.switching, which it
	// sends before asking for the switch) become events now, not never.
	a.drainNotes()
	it := a.seq.Item()
	if it != nil && a.seq.Audible() {
		a.player.Stop(it.ID, a.fade())
		t := a.clk.NewTimer(time.Second)
		defer t.Stop()
	wait:
		for {
			select {
			case ev := <-events:
				if ev.ID == it.ID && (ev.Kind == player.Stopped || ev.Kind == player.Ended) {
					break wait
				}
			case <-t.C():
				break wait
			}
		}
	}
	running := it != nil && !it.RunStart.IsZero()
	a.apply(a.seq.Shutdown())
	if it != nil {
		var heard int64
		if running && a.player != nil {
			f := a.player.Format()
			heard = int64(a.clk.Now().Sub(it.LastRun).Seconds()*float64(f.Rate)) * int64(f.Channels)
			it.Played += heard
		}
		a.playEvent("play.end", it, map[string]any{"reason": reason, "played_s": a.seconds(it.Played)})
		a.logPlay(it, reason, heard, nil)
	}
	for _, it := range a.queue.Remove(func(*ladder.Item) bool { return true }) {
		a.playEvent("play.end", it, map[string]any{"reason": reason, "played_s": a.seconds(it.Played)})
		a.logPlay(it, reason, 0, nil)
	}
	a.noteWaiting() // logged: the next start must not log them again
}

// maxLiveChannels bounds the live channels subscribed at once (each costs
// a subscription and, while frames flow, 4G data).
const maxLiveChannels = 8

// syncLive subscribes to the live channels of the items on air or queued,
// and to no other: live audio costs 4G data.
func (a *Agent) syncLive() { a.link.SetLive(a.liveChannels()) }

// liveChannels are the channels of the items on air or queued, sorted.
func (a *Agent) liveChannels() []string {
	var chans []string
	add := func(it *ladder.Item) {
		if ch, ok := liveChannel(it.Source); ok && !slices.Contains(chans, ch) {
			chans = append(chans, ch)
		}
	}
	if it := a.seq.Item(); it != nil {
		add(it)
	}
	for _, it := range a.queue.Items() {
		add(it)
	}
	slices.Sort(chans)
	return chans
}
