package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/loaxa/loaxa/agent/wire"
)

// releaseStatus handles `release status [DEVICE...] [--group G]`: a table
// of where each pole stands, from its retained state and status and the
// ota events that arrive meanwhile.
func (c *CLI) releaseStatus(ctx context.Context, o *options, pos []string) int {
	for _, d := range pos {
		if !wire.ValidID(d) {
			return c.usageError("device id %q: expected 3-64 characters of a-z, 0-9 and '-'", d)
		}
	}
	if o.group != "" && !wire.ValidGroup(o.group) {
		return c.usageError("group %q: expected \"all\" or 3-64 characters of a-z, 0-9 and '-'", o.group)
	}
	f, code := c.watchFleet(ctx, o)
	if f == nil {
		return code
	}
	defer f.close()
	if !f.collect(ctx, o.release.discover, nil) {
		return ExitInterrupted
	}
	var list []*pole
	for _, id := range slices.Sorted(maps.Keys(f.poles)) {
		p := f.poles[id]
		switch {
		case len(pos) > 0 && !slices.Contains(pos, id):
		case o.group != "" && !p.inGroup(o.group):
		case !p.seen:
		default:
			list = append(list, p)
		}
	}
	for _, d := range pos {
		if p := f.poles[d]; p == nil || !p.seen {
			fmt.Fprintf(c.Stderr, "loaxactl: no retained state or status from %s\n", d)
		}
	}
	if len(list) == 0 {
		fmt.Fprintf(c.Stderr, "loaxactl: no pole found within %v\n", o.release.discover)
		return ExitTimeout
	}
	if o.json {
		for _, p := range list {
			b, _ := json.Marshal(map[string]any{"device": p.id, "online": p.online, "version": p.version, "ota": p.ota,
				"last_event": p.event, "progress": p.progress})
			fmt.Fprintf(c.Stdout, "%s\n", b)
		}
		return ExitOK
	}
	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tONLINE\tVERSION\tSLOT\tOTHER\tOTA\tTARGET\tPROGRESS\tERROR")
	for _, p := range list {
		online := "no"
		if p.online {
			online = "yes"
		}
		slot, other, state, target, progress, errText := "-", "-", "-", "", "", ""
		if s := p.ota; s != nil {
			state, target = string(s.State), s.Target
			if s.Slot != "" {
				slot = s.Slot
				if s.Trial {
					slot += " (trial)"
				}
			}
			if o := s.Other; o != nil && o.Version != "" {
				other = o.Slot + " " + o.Version
				if !o.Valid {
					other += " (unusable)"
				}
			}
			if s.Progress != nil && s.Progress.Size > 0 {
				progress = fmt.Sprintf("%d%%", s.Progress.Bytes*100/s.Progress.Size)
			}
			if s.WaitingFor != "" {
				progress = "waits: " + s.WaitingFor
			}
			if s.Error != nil {
				errText = s.Error.Code + ": " + s.Error.Message
			}
		}
		// Events are newer than the retained state.
		if p.event != "" && (target == "" || p.eventFor == target) {
			target = p.eventFor
			switch p.event {
			case "ota.progress":
				state, progress = "downloading", fmt.Sprintf("%d%%", p.progress)
			case "ota.rolled_back", "ota.failed":
				state, errText = p.event[4:], p.detail
			default:
				state = p.event[4:]
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.id, online, p.version, slot, other, state, target, progress, shorten(errText, 60))
	}
	tw.Flush()
	for _, line := range strings.SplitAfter(table.String(), "\n") {
		fmt.Fprint(c.Stdout, strings.TrimRight(line, " \n")+strings.Repeat("\n", strings.Count(line, "\n")))
	}
	return ExitOK
}
