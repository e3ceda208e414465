package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/loaxa/loaxa/agent/wire"
)

// watch prints what devices report until ctx ends.
func (c *CLI) watch(ctx context.Context, o *options, pos []string) int {
	device := "+"
	switch len(pos) {
	case 0:
	case 1:
		device = pos[0]
		if device != "+" && !wire.ValidID(device) {
			return c.usageError("device id %q: expected 3-64 characters of a-z, 0-9 and '-'", device)
		}
	default:
		return c.usageError("watch takes at most one DEVICE, got %d arguments", len(pos))
	}
	filters := map[string]byte{}
	for _, k := range []string{"status", "state", "tele", "event", "ack"} {
		filters[wire.DevTopic(o.root, device, k)] = 1
	}

	// wctx ends when watch returns, before the client disconnects, so no
	// paho callback stays blocked on a channel nobody reads.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	msgs := make(chan mqtt.Message, 256)
	handler := func(_ mqtt.Client, m mqtt.Message) {
		select {
		case msgs <- m:
		case <-wctx.Done():
		}
	}
	// Every (re)connect subscribes again: the session is clean, so the
	// broker forgets subscriptions with the connection. paho runs this in
	// its own goroutine, so waiting on the token here is allowed.
	events := make(chan error, 1) // nil: subscribed; else why not
	onConnect := func(cl mqtt.Client) {
		err := subscribed(wctx, cl.SubscribeMultiple(filters, handler), nil)
		if isCtx(err) {
			return
		}
		if err != nil && !errors.Is(err, errRefused) {
			err = fmt.Errorf("subscribe: %w", err)
		}
		select {
		case events <- err:
		case <-wctx.Done():
		}
	}
	opts, err := clientOptions(o)
	if err != nil {
		return c.usageError("%v", err)
	}
	// A watch is left running for hours, so it rides out broker restarts
	// and link drops instead of exiting.
	opts.SetAutoReconnect(true).
		SetMaxReconnectInterval(30 * time.Second).
		SetOnConnectHandler(onConnect).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			select {
			case events <- fmt.Errorf("connection lost (%w); reconnecting", err):
			case <-wctx.Done():
			}
		})
	cl, err := connect(ctx, opts)
	if isCtx(err) {
		return ExitOK
	}
	if err != nil {
		fmt.Fprintf(c.Stderr, "loaxactl: %v\n", err)
		return ExitUnavailable
	}
	defer cl.Disconnect(250)
	defer cancel() // before Disconnect: unblocks the handlers

	what := "every device"
	if device != "+" {
		what = device
	}
	first := true
	for {
		select {
		case m := <-msgs:
			c.printMessage(o, m)
		case err := <-events:
			switch {
			case errors.Is(err, errRefused):
				fmt.Fprintf(c.Stderr, "loaxactl: %v\n", err)
				return ExitUnavailable
			case err != nil:
				fmt.Fprintf(c.Stderr, "loaxactl: %v\n", err)
			case first:
				fmt.Fprintf(c.Stderr, "loaxactl: watching %s under %s (Ctrl-C to stop)\n", what, o.root)
				first = false
			default:
				fmt.Fprintf(c.Stderr, "loaxactl: reconnected; watching %s again\n", what)
			}
		case <-wctx.Done():
			return ExitOK
		}
	}
}

// watchLine is the --json form of one message.
type watchLine struct {
	Topic    string          `json:"topic"`
	Device   string          `json:"device"`
	Kind     string          `json:"kind"`
	Retained bool            `json:"retained"`
	Payload  json.RawMessage `json:"payload"`
}

func (c *CLI) printMessage(o *options, m mqtt.Message) {
	device, kind, _ := wire.ParseDevTopic(o.root, m.Topic())
	if o.json {
		p := bytes.TrimSpace(m.Payload())
		if !json.Valid(p) {
			// Still one valid JSON line: the junk travels as a string.
			p = jsonString(string(m.Payload()))
		}
		line, err := json.Marshal(watchLine{Topic: m.Topic(), Device: device, Kind: kind, Retained: m.Retained(), Payload: p})
		if err != nil { // cannot happen: every part is valid JSON
			fmt.Fprintf(c.Stderr, "loaxactl: %s: %v\n", m.Topic(), err)
			return
		}
		fmt.Fprintf(c.Stdout, "%s\n", line)
		return
	}
	fmt.Fprintln(c.Stdout, c.formatLine(device, kind, m.Payload()))
}
