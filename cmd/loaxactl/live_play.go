package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/audio/live"
)

// This file is `loaxactl live --play TARGET`: the play goes to the poles
// first and the talk starts at once. Frames are captured from the start,
// and held back until the poles have accepted the play (a pole listens on
// the channel only from then; frames published earlier would be lost at
// the broker), then sent in one burst: the poles' jitter buffers take
// them, play them late, and catch up on the talk's pauses (or, in step,
// play each at its capture time plus audio.sync_delay_ms).

// maxHeld bounds the frames held back while the poles answer: 30 s of
// 20 ms frames, far beyond any ack's wait.
const maxHeld = 1500

// playTarget is where --play sends the play: a group, or one device
// ("dev/ID").
type playTarget struct {
	group, device string
}

func parsePlayTarget(s string) (playTarget, error) {
	if id, ok := strings.CutPrefix(s, "dev/"); ok {
		if !wire.ValidID(id) {
			return playTarget{}, fmt.Errorf("--play %q: device id %q: expected 3-64 characters of a-z, 0-9 and '-'", s, id)
		}
		return playTarget{device: id}, nil
	}
	if !wire.ValidGroup(s) {
		return playTarget{}, fmt.Errorf(`--play %q: expected a GROUP ("all" or 3-64 characters of a-z, 0-9 and '-') or dev/DEVICE`, s)
	}
	return playTarget{group: s}, nil
}

// gate holds frames back until the poles accepted the play.
type gate struct {
	mu     sync.Mutex // guards the fields below: the ack handler and the talk share them
	open   bool
	failed string // why the talk must not go on (a device refused)
	held   []live.Frame
	opened chan struct{}
}

// playLive publishes the play command, then collects acks in the
// background: the gate opens at a device's ok ack, or for a group at the
// first ok ack plus a grace for the others (twice that ack's round trip,
// at least 250 ms), or when the timeout passes. It returns a stop function
// that waits for the collector.
func (c *CLI) playLive(ctx context.Context, o *options, cl mqtt.Client, channel string, g *gate) (stop func(), code int) {
	l := &o.live
	tgt, _ := parsePlayTarget(l.play) // checked before
	args := fmt.Sprintf(`{"source":"live:%s","priority":%s,"chime":false`, channel, jsonString(l.priority))
	if l.sync {
		args += `,"sync":true`
	}
	args += "}"
	id := c.NewID()
	signed, cmdTopic, ackTopic := wire.GroupTarget(tgt.group), wire.Topics{Root: o.root}.GroupCmd(tgt.group), wire.DevTopic(o.root, "+", "ack")
	if tgt.device != "" {
		t := wire.Topics{Root: o.root, ID: tgt.device}
		signed, cmdTopic, ackTopic = wire.DevTarget(tgt.device), t.Cmd(), t.Ack()
	}
	payload := buildCommand(signed, id, "play", []byte(args), c.Clock.Now().UnixMilli(), o.ttl.Milliseconds(), o.key)
	timeout := o.timeout
	if timeout == 0 {
		timeout = DefaultTimeout
		if tgt.group != "" {
			timeout = DefaultGroupTimeout
		}
	}
	stopc := make(chan struct{})
	tok, acks := subscribeAcks(cl, o.root, ackTopic, id, stopc)
	if code := c.brokerOp(ctx, tok, "subscribe to "+ackTopic, timeout); code != ExitOK {
		return nil, code
	}
	sent := c.Clock.Now()
	if code := c.brokerOp(ctx, cl.Publish(cmdTopic, 1, false, payload), "publish to "+cmdTopic, timeout); code != ExitOK {
		return nil, code
	}
	done := make(chan struct{})
	go func() { // owned by playLive's caller through stop
		defer close(done)
		c.collectPlayAcks(ctx, tgt, acks, g, sent, timeout, stopc)
	}()
	return func() { close(stopc); <-done }, ExitOK
}

func (c *CLI) collectPlayAcks(ctx context.Context, tgt playTarget, acks <-chan received, g *gate, sent time.Time, timeout time.Duration, stop <-chan struct{}) {
	deadline := c.Clock.NewTimer(timeout)
	defer deadline.Stop()
	var grace <-chan time.Time
	ok, refused := 0, 0
	for {
		select {
		case r := <-acks:
			if r.err != nil {
				fmt.Fprintf(c.Stderr, "loaxactl: ignoring %v\n", r.err)
				continue
			}
			a := r.ack
			if !a.OK {
				refused++
				fmt.Fprintf(c.Stderr, "loaxactl: %s refused the play: %s\n", a.device, errText(a.Error))
				if tgt.device != "" {
					g.fail(a.device + " refused the play: " + errText(a.Error))
					return
				}
				continue
			}
			ok++
			fmt.Fprintf(c.Stderr, "loaxactl: %s plays the talk (%s)\n", a.device, compact(a.result))
			if tgt.device != "" {
				g.release()
				continue
			}
			if grace == nil && ok == 1 {
				rtt := c.Clock.Now().Sub(sent)
				t := c.Clock.NewTimer(max(250*time.Millisecond, 2*rtt))
				defer t.Stop()
				grace = t.C()
			}
		case <-grace:
			grace = nil
			g.release()
		case <-deadline.C():
			if ok == 0 {
				if tgt.device != "" {
					g.fail(fmt.Sprintf("no ack from %s within %v: is it online?", tgt.device, timeout))
					return
				}
				fmt.Fprintf(c.Stderr, "loaxactl: no pole of group %s accepted the play within %v; talking anyway\n", tgt.group, timeout)
			}
			g.release()
		case <-ctx.Done():
			return
		case <-stop:
			return
		}
	}
}

func newGate(open bool) *gate { return &gate{open: open, opened: make(chan struct{})} }

func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.open && g.failed == "" {
		g.open = true
		close(g.opened)
	}
}

func (g *gate) fail(why string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.failed == "" && !g.open {
		g.failed = why
		close(g.opened)
	}
}

// pass decides what to do with frame f: publish it now together with
// the frames held before it (out), hold it (nil), or stop (failed set).
func (g *gate) pass(f live.Frame) (out []live.Frame, failed string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.failed != "":
		return nil, g.failed
	case !g.open:
		if len(g.held) == maxHeld {
			g.held = g.held[1:]
		}
		g.held = append(g.held, f)
		return nil, ""
	}
	out = append(g.held, f)
	g.held = nil
	return out, ""
}
