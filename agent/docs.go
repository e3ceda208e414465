package agent

import (
	"maps"
	"slices"

	"github.com/loaxa/loaxa/agent/ladder"
	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/audio/live"
	"github.com/loaxa/loaxa/internal/redact"
)

// This file builds the documents the agent publishes: the retained state
// and the play.* events.

// state builds the retained state document.
func (a *Agent) state() wire.State {
	alarms := make([]wire.Alarm, 0, len(a.alarms))
	for _, name := range slices.Sorted(maps.Keys(a.alarms)) {
		alarms = append(alarms, a.alarms[name])
	}
	return wire.State{
		TS:         a.clk.Now().UnixMilli(),
		ID:         a.cfg.ID,
		Version:    a.opts.Version,
		Zones:      a.seq.Relays(),
		Volume:     a.volume,
		Amp:        wire.Amp{Power: a.seq.Amp()},
		Playing:    a.playingDoc(),
		Queue:      a.queueDoc(),
		Queued:     a.queue.Len(),
		Schedule:   a.scheduleDoc(),
		Media:      a.mediaDoc(),
		ConfigHash: a.cfg.Hash(),
		Alarms:     alarms,
		Groups:     a.cfg.AllGroups(),
		Inputs:     maps.Clone(a.inputs),
		Hardware:   a.hardwareDoc(),
		Modem:      a.modemInfo(),
		VolumeCap:  a.volumeCapDoc(),
		OTA:        a.otaStatus(),
	}
}

// playingDoc is the state's "playing" object.
func (a *Agent) playingDoc() *wire.Playing {
	it := a.seq.Item()
	if it == nil {
		return nil
	}
	return itemDoc(it)
}

func itemDoc(it *ladder.Item) *wire.Playing {
	p := &wire.Playing{Item: it.ID, Source: redact.URL(it.Source), Priority: it.Level.String(), Origin: it.Origin, Zones: it.Zones, Title: it.Title, Sync: syncDoc(it, it.SyncDelayMS)}
	if !it.Since.IsZero() {
		p.Since = it.Since.UnixMilli()
	}
	return p
}

// maxQueueDoc bounds the items listed in the state: the state is
// republished on every change, so a long queue listed whole would make
// every change cost its length (the count says how many wait).
const maxQueueDoc = 32

func (a *Agent) queueDoc() []wire.Playing {
	items := a.queue.Items()
	out := make([]wire.Playing, 0, min(len(items), maxQueueDoc))
	for _, it := range items[:min(len(items), maxQueueDoc)] {
		out = append(out, *itemDoc(it))
	}
	return out
}

// playEvent publishes a play.* event about an item.
func (a *Agent) playEvent(typ string, it *ladder.Item, extra map[string]any) {
	data := map[string]any{
		"item": it.ID, "cmd_id": it.CmdID, "source": redact.URL(it.Source), "priority": it.Level.String(),
		"origin": it.Origin, "zones": it.Zones,
	}
	if it.Title != "" {
		data["title"] = it.Title
	}
	maps.Copy(data, extra)
	if typ == "play.end" || typ == "play.interrupted" {
		if lo := a.live[it.ID]; lo != nil {
			if s, ok := lo.src.(interface{ Stats() live.Stats }); ok {
				st := s.Stats()
				data["live"] = map[string]any{"received": st.Received, "lost": st.Lost, "late": st.Late,
					"concealed": st.Concealed, "dropped": st.Dropped, "trimmed": st.Trimmed, "underruns": st.Underruns}
			}
		}
	}
	a.event(typ, data)
	if typ == "play.end" {
		a.releaseLive(it.ID)
	}
}
