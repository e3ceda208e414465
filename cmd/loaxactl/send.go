package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/internal/clock"
)

// send handles `send DEVICE CMD [ARGS]` and `send --group G CMD [ARGS]`.
func (c *CLI) send(ctx context.Context, o *options, pos []string) int {
	var target string
	if o.group == "" {
		if len(pos) < 2 || len(pos) > 3 {
			return c.usageError("send takes DEVICE CMD [JSON-ARGS], got %d argument(s)", len(pos))
		}
		target, pos = pos[0], pos[1:]
		if !wire.ValidID(target) {
			return c.usageError("device id %q: expected 3-64 characters of a-z, 0-9 and '-'", target)
		}
	} else {
		if len(pos) < 1 || len(pos) > 2 {
			return c.usageError("send --group takes CMD [JSON-ARGS], got %d argument(s)", len(pos))
		}
		if !wire.ValidGroup(o.group) {
			return c.usageError("group %q: expected \"all\" or 3-64 characters of a-z, 0-9 and '-'", o.group)
		}
	}
	cmd := pos[0]
	if cmd == "" || len(cmd) > 64 || strings.ContainsAny(cmd, " \t\n") {
		return c.usageError("command %q: expected a name such as ping, zones or volume", cmd)
	}
	var args []byte
	if len(pos) == 2 {
		var err error
		if args, err = parseArgs(pos[1]); err != nil {
			return c.usageError("%v", err)
		}
	}
	id := c.NewID()
	ts := c.Clock.Now().UnixMilli()
	signed := wire.DevTarget(target)
	if o.group != "" {
		signed = wire.GroupTarget(o.group)
	}
	payload := buildCommand(signed, id, cmd, args, ts, o.ttl.Milliseconds(), o.key)
	if len(payload) > wire.MaxPayload {
		return c.usageError("the command is %d bytes; poles accept at most %d", len(payload), wire.MaxPayload)
	}
	if o.group != "" {
		return c.sendGroup(ctx, o, id, payload)
	}
	return c.sendOne(ctx, o, target, id, payload)
}

// parseArgs checks that s is one JSON object and returns it compacted.
// The compact bytes are what is published and signed, byte for byte.
func parseArgs(s string) ([]byte, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("JSON-ARGS is not valid JSON (%v): expected an object such as '{\"level\":60}'", err)
	}
	if strings.TrimSpace(s[dec.InputOffset():]) != "" {
		return nil, fmt.Errorf("JSON-ARGS has text after the JSON object: quote the whole object as one argument")
	}
	if raw[0] != '{' {
		return nil, fmt.Errorf("JSON-ARGS must be a JSON object such as '{\"level\":60}', got %s", shorten(string(raw), 40))
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return nil, fmt.Errorf("JSON-ARGS: %w", err)
	}
	return b.Bytes(), nil
}

// buildCommand writes the command document by hand rather than with
// json.Marshal: Marshal would re-encode args (escaping <, > and &), and the
// signature covers the exact args bytes the pole receives. target is the
// signed target ("dev/ID" or "grp/GROUP").
func buildCommand(target, id, cmd string, args []byte, ts, ttl int64, key []byte) []byte {
	var b bytes.Buffer
	b.WriteString(`{"id":`)
	b.Write(jsonString(id))
	b.WriteString(`,"cmd":`)
	b.Write(jsonString(cmd))
	if len(args) > 0 {
		b.WriteString(`,"args":`)
		b.Write(args)
	}
	b.WriteString(`,"ts":`)
	b.WriteString(strconv.FormatInt(ts, 10))
	if ttl > 0 {
		b.WriteString(`,"ttl":`)
		b.WriteString(strconv.FormatInt(ttl, 10))
	}
	if len(key) > 0 {
		b.WriteString(`,"auth":`)
		b.Write(jsonString(wire.Sign(key, target, id, cmd, ts, args)))
	}
	b.WriteByte('}')
	return b.Bytes()
}

func jsonString(s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return b
}

// ack is a received ack: the decoded document and its raw bytes.
type ack struct {
	device string
	wire.Ack
	result json.RawMessage // the result exactly as sent, for printing
	raw    []byte
}

// decodeAck parses an ack payload. The result is kept raw so it prints
// with the pole's key order.
func decodeAck(device string, payload []byte) (*ack, error) {
	a := &ack{device: device, raw: payload}
	// A non-nil pointer in the interface field makes encoding/json decode
	// into it instead of building a map.
	a.Ack.Result = &a.result
	if err := json.Unmarshal(payload, &a.Ack); err != nil {
		return nil, fmt.Errorf("ack from %s is not valid JSON: %w", device, err)
	}
	a.Ack.Result = nil
	if len(bytes.TrimSpace(a.result)) == 0 || string(a.result) == "null" {
		a.result = nil
	}
	return a, nil
}

// received is one message on an ack topic: our ack, or why a payload
// could not be read.
type received struct {
	ack *ack
	err error
}

// subscribeAcks subscribes to topic and returns what arrives there: acks
// that carry id, and errors for unreadable ones. One channel keeps them in
// arrival order. It is fed from paho's goroutine until stop is closed.
func subscribeAcks(cl mqtt.Client, root, topic, id string, stop <-chan struct{}) (mqtt.Token, <-chan received) {
	ch := make(chan received, 64)
	tok := cl.Subscribe(topic, 1, func(_ mqtt.Client, m mqtt.Message) {
		device, _, _ := wire.ParseDevTopic(root, m.Topic())
		a, err := decodeAck(device, m.Payload())
		if err == nil && a.ID != id {
			return // another operator's command, or an older one
		}
		select {
		case ch <- received{a, err}:
		case <-stop:
		}
	})
	return tok, ch
}

// publishCommand connects, subscribes to ackTopic, then publishes the
// command: subscribing first matters, since a fast pole could otherwise ack
// before we listen, and that ack would be lost (acks are not retained).
// done disconnects; it is nil unless code is ExitOK.
func (c *CLI) publishCommand(ctx context.Context, o *options, ackTopic, cmdTopic, id string, payload []byte, timeout time.Duration) (<-chan received, func(), int) {
	cl, code := c.dial(ctx, o)
	if cl == nil {
		return nil, nil, code
	}
	stop := make(chan struct{})
	done := func() {
		close(stop) // before Disconnect: unblocks the handler
		cl.Disconnect(250)
	}
	tok, acks := subscribeAcks(cl, o.root, ackTopic, id, stop)
	if code := c.brokerOp(ctx, tok, "subscribe to "+ackTopic, timeout); code != ExitOK {
		done()
		return nil, nil, code
	}
	if code := c.brokerOp(ctx, cl.Publish(cmdTopic, 1, false, payload), "publish to "+cmdTopic, timeout); code != ExitOK {
		done()
		return nil, nil, code
	}
	return acks, done, ExitOK
}

// sendOne publishes to one device and waits for its ack.
func (c *CLI) sendOne(ctx context.Context, o *options, device, id string, payload []byte) int {
	timeout := o.timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	t := wire.Topics{Root: o.root, ID: device}
	acks, done, code := c.publishCommand(ctx, o, t.Ack(), t.Cmd(), id, payload, timeout)
	if code != ExitOK {
		return code
	}
	defer done()
	timer := c.Clock.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case r := <-acks:
			if r.err != nil {
				fmt.Fprintf(c.Stderr, "loaxactl: ignoring %v\n", r.err)
				continue
			}
			return c.printAck(o, r.ack)
		case <-timer.C():
			fmt.Fprintf(c.Stderr, "loaxactl: no ack from %s within %v: is it online? try `loaxactl watch %s`\n", device, timeout, device)
			return ExitTimeout
		case <-ctx.Done():
			fmt.Fprintf(c.Stderr, "loaxactl: interrupted before %s answered (the command %s was sent)\n", device, id)
			return ExitInterrupted
		}
	}
}

// dial connects, reporting failure; it returns a nil client and the exit
// status when it could not.
func (c *CLI) dial(ctx context.Context, o *options) (mqtt.Client, int) {
	opts, err := clientOptions(o)
	if err != nil {
		return nil, c.usageError("%v", err)
	}
	cl, err := connect(ctx, opts)
	if isCtx(err) {
		return nil, ExitInterrupted
	}
	if err != nil {
		fmt.Fprintf(c.Stderr, "loaxactl: %v\n", err)
		return nil, ExitUnavailable
	}
	return cl, ExitOK
}

// brokerOp waits for the broker to confirm a subscribe or publish and
// reports a failure. The bound is real time (clock.Real), not c.Clock: it
// is about a wedged network, whereas c.Clock times the pole's answer, which
// is what tests fake. A healthy broker answers in milliseconds.
func (c *CLI) brokerOp(ctx context.Context, tok mqtt.Token, what string, timeout time.Duration) int {
	bound := clock.Real{}.NewTimer(timeout)
	defer bound.Stop()
	err := subscribed(ctx, tok, bound.C()) // a plain await for a publish token
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, errDeadline):
		fmt.Fprintf(c.Stderr, "loaxactl: %s: the broker did not answer within %v\n", what, timeout)
		return ExitUnavailable
	case isCtx(err):
		return ExitInterrupted
	default:
		fmt.Fprintf(c.Stderr, "loaxactl: %s: %v\n", what, err)
		return ExitUnavailable
	}
}

// printAck prints one device's ack and returns the exit status it means.
func (c *CLI) printAck(o *options, a *ack) int {
	if o.json {
		fmt.Fprintf(c.Stdout, "%s\n", bytes.TrimSpace(a.raw))
	} else {
		if a.OK {
			fmt.Fprintf(c.Stdout, "%s: %s ok\n", a.device, a.Cmd)
		} else {
			fmt.Fprintf(c.Stdout, "%s: %s failed: %s\n", a.device, a.Cmd, errText(a.Error))
		}
		if a.result != nil {
			var b bytes.Buffer
			if json.Indent(&b, a.result, "", "  ") == nil {
				fmt.Fprintf(c.Stdout, "%s\n", b.Bytes())
			}
		}
	}
	if !a.OK {
		return ExitFailed
	}
	return ExitOK
}

func errText(e *wire.Error) string {
	if e == nil {
		return "(no error given)"
	}
	return string(e.Code) + ": " + e.Message
}

// sendGroup publishes to a group and collects acks until the timeout: a
// group has no member list, so there is no count to stop at.
func (c *CLI) sendGroup(ctx context.Context, o *options, id string, payload []byte) int {
	timeout := o.timeout
	if timeout == 0 {
		timeout = DefaultGroupTimeout
	}
	ackTopic := wire.DevTopic(o.root, "+", "ack")
	cmdTopic := wire.Topics{Root: o.root}.GroupCmd(o.group)
	acks, done, code := c.publishCommand(ctx, o, ackTopic, cmdTopic, id, payload, timeout)
	if code != ExitOK {
		return code
	}
	defer done()
	timer := c.Clock.NewTimer(timeout)
	defer timer.Stop()
	got := map[string]*ack{}
	interrupted := false
collect:
	for {
		select {
		case r := <-acks:
			if r.err != nil {
				fmt.Fprintf(c.Stderr, "loaxactl: ignoring %v\n", r.err)
				continue
			}
			if _, dup := got[r.ack.device]; !dup { // else a QoS 1 redelivery
				got[r.ack.device] = r.ack
			}
			if c.onAck != nil {
				c.onAck(len(got))
			}
		case <-timer.C():
			break collect
		case <-ctx.Done():
			// Ctrl-C ends the wait early; what came so far is still worth
			// printing.
			interrupted = true
			break collect
		}
	}
	if len(got) == 0 {
		if interrupted {
			return ExitInterrupted
		}
		fmt.Fprintf(c.Stderr, "loaxactl: no ack from group %s within %v: are its poles online? try `loaxactl watch`\n", o.group, timeout)
		return ExitTimeout
	}
	list := make([]*ack, 0, len(got))
	for _, a := range got {
		list = append(list, a)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].device < list[j].device })
	failed := c.printGroup(o, list)
	switch {
	case failed > 0:
		return ExitFailed
	case interrupted:
		return ExitInterrupted
	}
	return ExitOK
}

// printGroup prints the acks as a table (or JSON lines) and returns how
// many were not ok.
func (c *CLI) printGroup(o *options, list []*ack) int {
	failed := 0
	for _, a := range list {
		if !a.OK {
			failed++
		}
	}
	if o.json {
		for _, a := range list {
			fmt.Fprintf(c.Stdout, "{\"device\":%s,\"ack\":%s}\n", jsonString(a.device), bytes.TrimSpace(a.raw))
		}
		return failed
	}
	tw := tabwriter.NewWriter(c.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tOK\tRESULT/ERROR")
	for _, a := range list {
		ok, detail := "yes", compact(a.result)
		if !a.OK {
			ok, detail = "no", errText(a.Error)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", a.device, ok, shorten(detail, 100))
	}
	tw.Flush()
	fmt.Fprintf(c.Stdout, "%d acks (%d failed)\n", len(list), failed)
	return failed
}

// compact returns JSON on one line, or "" for none.
func compact(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}

// shorten cuts s to at most n runes, marking the cut.
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
