package agent

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/loaxa/loaxa/agent/ladder"
	"github.com/loaxa/loaxa/agent/playargs"
	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/internal/redact"
)

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

// cmdPlay validates a play request and hands it to the ladder.
func (a *Agent) cmdPlay(c *wire.Command) (any, *wire.Error) {
	var args playargs.Play
	if e := wire.DecodeArgs(c.Args, &args); e != nil {
		return nil, e
	}
	if e := a.audioReady(); e != nil {
		return nil, e
	}
	if args.Item == "" {
		args.Item = c.ID
	}
	it, e := a.playItem(c.ID, args)
	if e != nil {
		return nil, e
	}
	return a.offer(it, args.Replace)
}

// playItem checks play arguments (the command's or a scheduled item's) and
// builds the item; nothing is changed.
func (a *Agent) playItem(cmdID string, args playargs.Play) (*ladder.Item, *wire.Error) {
	now := a.clk.Now()
	if fe := playargs.Check(&args, a.cfg.ZoneNames(), now); fe != nil {
		if fe.Field == "until" {
			return nil, wire.Errf(wire.CodeExpired, "%s", fe.Msg)
		}
		return nil, wire.Errf(wire.CodeBadArgs, "%s", fe.Msg)
	}
	it := &ladder.Item{ID: args.Item, CmdID: cmdID, Source: args.Source, Origin: args.Origin, Volume: args.Volume, Repeat: args.Repeat}
	it.Level = ladder.Normal
	if args.Priority != "" {
		it.Level, _ = ladder.ParseLevel(args.Priority)
	}
	it.Duration = time.Duration(args.DurationS * float64(time.Second))
	if args.Until != 0 {
		it.Until = time.UnixMilli(args.Until)
	}
	if args.Zones == nil {
		it.Zones = a.cfg.ZoneNames()
	} else {
		it.Zones = slices.Compact(slices.Sorted(slices.Values(args.Zones)))
	}
	a.decideSync(it, args.Sync)
	it.Chime = slices.Contains(a.cfg.Audio.Chime, it.Level.String())
	if args.Chime != nil {
		it.Chime = *args.Chime
	}
	if a.findItem(it.ID) != nil {
		return nil, wire.Errf(wire.CodeBadArgs, "item %q is already playing or queued; stop it first", it.ID)
	}
	if ch, ok := liveChannel(it.Source); ok && !slices.Contains(a.liveChannels(), ch) && len(a.liveChannels()) >= maxLiveChannels {
		return nil, wire.Errf(wire.CodeBusy, "%d live channels are already subscribed (playing or queued); stop one first", maxLiveChannels)
	}
	if strings.HasPrefix(it.Source, "tone:") && it.Duration == 0 {
		// A test tone without a duration would sound until stopped.
		it.Duration = 5 * time.Second
	}
	return it, nil
}

// offer applies the ladder to a new item and answers with where it went.
func (a *Agent) offer(it *ladder.Item, replace bool) (any, *wire.Error) {
	now := a.clk.Now()
	cur := a.seq.Item()
	res := a.queue.Offer(it, replace, cur, a.seq.Leaving())
	if res != ladder.Refused && res != ladder.Full {
		// Accepted: its jitter buffer takes frames from now on.
		a.openLive(it)
		a.syncEvent(it)
	}
	switch res {
	case ladder.Refused:
		return nil, &wire.Error{Code: wire.CodeBusy,
			Message: fmt.Sprintf("%s is playing at priority %s; a %s item needs \"until\" to wait for it", cur.ID, cur.Level, it.Level),
			Result:  map[string]any{"playing": a.playingDoc()}}
	case ladder.Full:
		return nil, &wire.Error{Code: wire.CodeBusy,
			Message: fmt.Sprintf("the play queue is full (%d items); stop some first", a.queue.Len()),
			Result:  map[string]any{"playing": a.playingDoc(), "queued": a.queue.Len()}}
	case ladder.Start:
		a.syncLive()
		a.advance()
	case ladder.Interrupt:
		cur.InterruptedBy = it.ID
		a.syncLive()
		a.apply(a.seq.Stop(now, "interrupted"))
	case ladder.Replace:
		cur.InterruptedBy = it.ID
		a.syncLive()
		a.apply(a.seq.Stop(now, "replaced"))
	case ladder.Wait:
		a.syncLive()
	}
	a.log.Info("play", "item", it.ID, "source", redact.URL(it.Source), "priority", it.Level.String(), "origin", it.Origin)
	a.publishState()
	if a.seq.Item() == it || a.seq.State() == ladder.Stopping && a.queue.Head() == it {
		// Playing, or about to: what played is fading out for it.
		return map[string]any{"item": it.ID, "status": "playing"}, nil
	}
	return map[string]any{"item": it.ID, "status": "queued", "position": a.queue.Position(it)}, nil
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
	match := func(it *ladder.Item) bool { return true }
	if args.Item != "" {
		if a.findItem(args.Item) == nil {
			return nil, wire.Errf(wire.CodeBadArgs, "no item %q is playing or queued", wire.Truncate(args.Item, 64))
		}
		match = func(it *ladder.Item) bool { return it.ID == args.Item }
	}
	if args.Priority != "" {
		lv, ok := ladder.ParseLevel(args.Priority)
		if !ok {
			return nil, wire.Errf(wire.CodeBadArgs, "priority %q must be one of %v", wire.Truncate(args.Priority, 20), ladder.LevelNames)
		}
		match = func(it *ladder.Item) bool { return it.Level == lv }
	}
	stopped := []string{}
	for _, it := range a.queue.Remove(match) {
		stopped = append(stopped, it.ID)
		a.playEvent("play.end", it, map[string]any{"reason": "stopped", "played_s": a.seconds(it.Played)})
		a.logPlay(it, "stopped", 0, nil)
	}
	if cur := a.seq.Item(); cur != nil && match(cur) && !a.seq.Leaving() {
		stopped = append(stopped, cur.ID)
		a.apply(a.seq.Stop(a.clk.Now(), "stopped"))
	}
	a.syncLive()
	a.publishState()
	return map[string]any{"stopped": stopped}, nil
}

func (a *Agent) findItem(id string) *ladder.Item {
	if it := a.seq.Item(); it != nil && it.ID == id {
		return it
	}
	return a.queue.Find(id)
}
