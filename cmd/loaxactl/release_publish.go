package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/ota"
)

// releasePublish handles `release publish MANIFEST DEVICE` and
// `release publish MANIFEST --group G [--percent P[,P...]]`.
func (c *CLI) releasePublish(ctx context.Context, o *options, pos []string) int {
	r := &o.release
	var device string
	switch {
	case o.group == "" && len(pos) == 2:
		device = pos[1]
		if !wire.ValidID(device) {
			return c.usageError("device id %q: expected 3-64 characters of a-z, 0-9 and '-'", device)
		}
	case o.group != "" && len(pos) == 1:
		if !wire.ValidGroup(o.group) {
			return c.usageError("group %q: expected \"all\" or 3-64 characters of a-z, 0-9 and '-'", o.group)
		}
	default:
		return c.usageError("release publish takes MANIFEST DEVICE, or MANIFEST --group GROUP")
	}
	if r.percent != "" && o.group == "" {
		return c.usageError("--percent is for a staged rollout to a --group")
	}
	stages, err := parseStages(r.percent)
	if err != nil {
		return c.usageError("%v", err)
	}
	raw, err := os.ReadFile(pos[0])
	if err != nil {
		return c.usageError("%v", err)
	}
	args, err := parseArgs(string(raw))
	if err != nil {
		return c.usageError("%s: %v", pos[0], err)
	}
	s, err := ota.ParseSigned(args)
	if err != nil {
		return c.usageError("%s: %v", pos[0], err)
	}
	if now := c.Clock.Now(); !now.Before(s.Manifest.Expires) {
		return c.usageError("%s expired at %s; sign a fresh one", pos[0], s.Manifest.Expires.UTC().Format(time.RFC3339))
	}
	id := c.NewID()
	target := wire.DevTarget(device)
	if device == "" {
		target = wire.GroupTarget(o.group)
	}
	payload := buildCommand(target, id, "ota", args, c.Clock.Now().UnixMilli(), o.ttl.Milliseconds(), o.key)
	if len(payload) > wire.MaxPayload {
		return c.usageError("the ota command is %d bytes; poles accept at most %d", len(payload), wire.MaxPayload)
	}
	switch {
	case device != "":
		return c.sendOne(ctx, o, device, id, payload)
	case stages == nil:
		return c.sendGroup(ctx, o, id, payload)
	}
	return c.staged(ctx, o, s, args, stages)
}

// parseStages reads "10" or "5,25" into cumulative percentages ending at
// 100; "" is nil (no staging).
func parseStages(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(f, "%")))
		if err != nil || n <= 0 || n >= 100 || (len(out) > 0 && n <= out[len(out)-1]) {
			return nil, fmt.Errorf("--percent %q: expected increasing percentages between 1 and 99, e.g. 10 or 5,25", s)
		}
		out = append(out, n)
	}
	return append(out, 100), nil
}

// staged publishes to a share of the group, waits for those poles to
// commit the release or fail, and goes on to the next share only while
// no more than --max-failures of a stage failed.
func (c *CLI) staged(ctx context.Context, o *options, s *ota.Signed, args []byte, stages []int) int {
	r := &o.release
	f, code := c.watchFleet(ctx, o)
	if f == nil {
		return code
	}
	defer f.close()
	target, rid := s.Manifest.Version.String(), s.Manifest.ID()
	if !f.collect(ctx, r.discover, nil) {
		return ExitInterrupted
	}
	var members []*pole
	for _, p := range f.poles {
		if p.inGroup(o.group) {
			members = append(members, p)
		}
	}
	if len(members) == 0 {
		fmt.Fprintf(c.Stderr, "loaxactl: no pole of group %s in the retained states seen within %v\n", o.group, r.discover)
		return ExitTimeout
	}
	// Online poles first (their results come back), then a stable shuffle:
	// the same release picks the same first poles if published again.
	rank := func(p *pole) string { h := sha256.Sum256([]byte(rid + p.id)); return string(h[:]) }
	sort.Slice(members, func(i, j int) bool {
		if members[i].online != members[j].online {
			return members[i].online
		}
		return rank(members[i]) < rank(members[j])
	})
	n, prev := len(members), 0
	fmt.Fprintf(c.Stdout, "%s to group %s: %d poles, stages %v%%\n", target, o.group, n, stages)
	for i, pct := range stages {
		end := max((pct*n+99)/100, prev)
		if i == 0 && end == 0 {
			end = 1
		}
		batch := members[prev:end]
		prev = end
		if len(batch) == 0 {
			continue
		}
		last := i == len(stages)-1
		fmt.Fprintf(c.Stdout, "stage %d (%d%%): %d pole(s)\n", i+1, pct, len(batch))
		for _, p := range batch {
			p.stage = i + 1
			if p.version == target {
				p.done, p.acked, p.result = true, true, "already runs "+target
				continue
			}
			p.cmdID = c.NewID()
			payload := buildCommand(wire.DevTarget(p.id), p.cmdID, "ota", args, c.Clock.Now().UnixMilli(), o.ttl.Milliseconds(), o.key)
			t := wire.Topics{Root: o.root, ID: p.id}
			if code := c.brokerOp(ctx, f.cl.Publish(t.Cmd(), 1, false, payload), "publish to "+t.Cmd(), DefaultTimeout); code != ExitOK {
				return code
			}
		}
		wait := r.wait
		if last {
			if wait = o.timeout; wait == 0 {
				wait = DefaultGroupTimeout
			}
		}
		if !c.awaitStage(ctx, f, batch, target, last, wait) {
			c.printRollout(o, members)
			return ExitInterrupted
		}
		failed := 0
		for _, p := range batch {
			if p.failed || (!last && !p.done) || (last && !p.acked) {
				failed++
				if p.result == "" {
					p.failed, p.result = true, "no answer within "+wait.String()
				}
			}
		}
		fmt.Fprintf(c.Stdout, "stage %d: %d of %d failed (at most %d allowed)\n", i+1, failed, len(batch), r.maxFailures)
		if !last && failed > r.maxFailures {
			c.printRollout(o, members)
			fmt.Fprintf(c.Stdout, "stopped: %d pole(s) not sent the release\n", n-prev)
			return ExitFailed
		}
	}
	if c.printRollout(o, members) > 0 {
		return ExitFailed
	}
	return ExitOK
}

// awaitStage follows the batch until every pole finished (committed or
// failed; for the last stage, acked) or wait passes. It returns false if
// interrupted.
func (c *CLI) awaitStage(ctx context.Context, f *fleet, batch []*pole, target string, ackOnly bool, wait time.Duration) bool {
	pending := func() bool {
		for _, p := range batch {
			if !p.failed && ((ackOnly && !p.acked) || (!ackOnly && !p.done)) {
				return true
			}
		}
		return false
	}
	timer := c.Clock.NewTimer(wait)
	defer timer.Stop()
	on := func(p *pole, kind string, payload []byte) {
		if p.stage == 0 || p.done || p.failed || p.cmdID == "" {
			return
		}
		switch kind {
		case "ack":
			a, err := decodeAck(p.id, payload)
			if err != nil || a.ID != p.cmdID {
				return
			}
			p.acked = true
			if !a.OK {
				p.failed, p.result = true, errText(a.Error)
			} else if p.result == "" {
				p.result = "accepted"
			}
		case "event":
			if p.eventFor != target {
				return
			}
			switch p.event {
			case "ota.committed":
				p.done, p.result = true, "committed "+target
			case "ota.rolled_back":
				p.failed, p.result = true, "rolled back: "+p.detail
			case "ota.failed":
				p.failed, p.result = true, "failed: "+p.detail
			case "ota.progress":
				p.result = fmt.Sprintf("downloading %d%%", p.progress)
			default:
				p.result = strings.TrimPrefix(p.event, "ota.")
			}
		case "state":
			if p.version == target && p.acked {
				p.done, p.result = true, "runs "+target
			}
		}
		if p.done || p.failed {
			fmt.Fprintf(c.Stdout, "%s: %s\n", p.id, p.result)
		}
	}
	for pending() {
		select {
		case m := <-f.msgs:
			f.handle(m, on)
		case <-timer.C():
			return true
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// printRollout prints where each pole of the rollout stands and returns
// how many failed.
func (c *CLI) printRollout(o *options, members []*pole) int {
	failed := 0
	tw := tabwriter.NewWriter(c.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tSTAGE\tRESULT")
	for _, p := range members {
		stage, result := "-", "not sent"
		if p.stage > 0 {
			stage, result = strconv.Itoa(p.stage), p.result
		}
		if p.failed {
			failed++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", p.id, stage, shorten(result, 100))
	}
	tw.Flush()
	return failed
}
