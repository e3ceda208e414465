package agent

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/loaxa/loaxa/agent/ladder"
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
	// Sync plays a live item in step with the other poles (live.go).
	Sync *bool `json:"sync"`
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
	it, e := a.playItem(c.ID, args)
	if e != nil {
		return nil, e
	}
	return a.offer(it, args.Replace)
}

// playItem checks play arguments and builds the item; nothing is changed.
func (a *Agent) playItem(cmdID string, args playArgs) (*ladder.Item, *wire.Error) {
	now := a.clk.Now()
	it := &ladder.Item{ID: args.Item, CmdID: cmdID, Source: args.Source, Origin: args.Origin, Volume: args.Volume, Repeat: args.Repeat}
	if it.ID == "" {
		it.ID = cmdID
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
	lv, ok := ladder.ParseLevel(args.Priority)
	if !ok {
		return nil, wire.Errf(wire.CodeBadArgs, "priority %q must be one of %v", truncate(args.Priority, 20), ladder.LevelNames)
	}
	it.Level = lv
	if args.Origin != "" && ladder.OriginRank(args.Origin) == 0 {
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
	if _, live := liveChannel(it.Source); args.Sync != nil && *args.Sync && !live {
		return nil, wire.Errf(wire.CodeBadArgs, `"sync" applies to live:CHANNEL sources only; %q is not one`, truncate(args.Source, 80))
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
		a.syncLive()
		a.apply(a.seq.Stop(now, "interrupted"))
	case ladder.Replace:
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
			return nil, wire.Errf(wire.CodeBadArgs, "no item %q is playing or queued", truncate(args.Item, 64))
		}
		match = func(it *ladder.Item) bool { return it.ID == args.Item }
	}
	if args.Priority != "" {
		lv, ok := ladder.ParseLevel(args.Priority)
		if !ok {
			return nil, wire.Errf(wire.CodeBadArgs, "priority %q must be one of %v", truncate(args.Priority, 20), ladder.LevelNames)
		}
		match = func(it *ladder.Item) bool { return it.Level == lv }
	}
	stopped := []string{}
	for _, it := range a.queue.Remove(match) {
		stopped = append(stopped, it.ID)
		a.playEvent("play.end", it, map[string]any{"reason": "stopped", "played_s": a.seconds(it.Played)})
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
