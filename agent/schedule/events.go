package schedule

import (
	"math"
	"time"

	"github.com/loaxa/loaxa/internal/redact"
)

// Event returns the type and data of the event the agent publishes for a
// decision: "schedule.start", "schedule.late" or "schedule.missed", with
//
//	item           the play item id (the occurrence's Key)
//	schedule_item  the schedule item id
//	version        the schedule version
//	date           the local date of the occurrence
//	start, end     its window, ms since the epoch
//	late_s         seconds after its start the decision was taken
//	source         the item's source (credentials and query values hidden)
//	priority       the item's priority ("normal" when it gives none)
//	origin, zones  as the item gives them (absent when it does not)
//	restarted      true for an occurrence started again after a restart
func (d Decision) Event(version string) (string, map[string]any) {
	it := d.Item
	data := map[string]any{
		"item":          d.Key(),
		"schedule_item": it.ID,
		"version":       version,
		"date":          d.Date,
		"start":         d.Start.UnixMilli(),
		"end":           d.End.UnixMilli(),
		"late_s":        math.Round(max(0, d.LateS)*1000) / 1000,
		"source":        redact.URL(it.Source),
		"priority":      it.Priority,
	}
	if it.Priority == "" {
		data["priority"] = "normal"
	}
	if it.Origin != "" {
		data["origin"] = it.Origin
	}
	if it.Zones != nil {
		data["zones"] = it.Zones
	}
	if d.Restarted {
		data["restarted"] = true
	}
	return "schedule." + string(d.Kind), data
}

// StateDoc is the "schedule" object of the state document.
type StateDoc struct {
	// Version is the schedule's version, "" when there is none.
	Version string `json:"version"`
	// Clock is "synced" or "unsynced"; while unsynced no scheduled item
	// starts (commanded playback still works).
	Clock ClockStatus `json:"clock"`
	// Next is when the next occurrence starts, ms since the epoch; null
	// when nothing is scheduled again or the clock is not synchronised.
	Next *int64 `json:"next"`
	// NextItem is the schedule item id of that occurrence.
	NextItem string `json:"next_item,omitempty"`
	// Items is the number of items in the schedule.
	Items int `json:"items"`
}

// StateDoc returns the state document's "schedule" object at now.
func (t *Tracker) StateDoc(now time.Time, clk ClockStatus) StateDoc {
	doc := StateDoc{Version: t.s.Version(), Clock: clk, Items: t.s.Len()}
	if clk != ClockSynced {
		return doc
	}
	if o, ok := t.s.Next(now); ok {
		ms := o.Start.UnixMilli()
		doc.Next, doc.NextItem = &ms, o.Item.ID
	}
	return doc
}
