package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/internal/clock"
	"github.com/loaxa/loaxa/ota"
)

// pole is what loaxactl knows of one pole from its retained state and
// status and from the events and acks it sends.
type pole struct {
	id      string
	online  bool
	seen    bool // a status or state arrived
	version string
	groups  []string
	ota     *ota.Status
	// From events, newer than the retained state.
	progress int // -1: none
	event    string
	detail   string
	eventFor string // the version the last ota event was about
	// A publish's bookkeeping.
	stage  int
	cmdID  string
	acked  bool
	result string
	failed bool
	done   bool
}

// poleState is the part of the state document loaxactl reads.
type poleState struct {
	ID      string      `json:"id"`
	Version string      `json:"version"`
	Groups  []string    `json:"groups"`
	OTA     *ota.Status `json:"ota"`
}

// fleet follows the poles over one connection.
type fleet struct {
	c     *CLI
	o     *options
	cl    mqtt.Client
	msgs  chan mqtt.Message
	stop  chan struct{}
	poles map[string]*pole
}

// watchFleet connects and subscribes to every pole's state, status,
// events and acks. close disconnects.
func (c *CLI) watchFleet(ctx context.Context, o *options) (*fleet, int) {
	cl, code := c.dial(ctx, o)
	if cl == nil {
		return nil, code
	}
	f := &fleet{c: c, o: o, cl: cl, msgs: make(chan mqtt.Message, 1024), stop: make(chan struct{}), poles: map[string]*pole{}}
	handler := func(_ mqtt.Client, m mqtt.Message) {
		select {
		case f.msgs <- m:
		case <-f.stop:
		}
	}
	filters := map[string]byte{}
	for _, k := range []string{"state", "status", "event", "ack"} {
		filters[wire.DevTopic(o.root, "+", k)] = 1
	}
	timeout := o.timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	if code := c.brokerOp(ctx, cl.SubscribeMultiple(filters, handler), "subscribe to the poles' topics", timeout); code != ExitOK {
		f.close()
		return nil, code
	}
	return f, ExitOK
}

func (f *fleet) close() {
	close(f.stop) // before Disconnect: unblocks the handler
	f.cl.Disconnect(250)
}

func (f *fleet) pole(id string) *pole {
	p := f.poles[id]
	if p == nil {
		p = &pole{id: id, progress: -1}
		f.poles[id] = p
	}
	return p
}

// collect reads messages for d of real time: the broker sends the
// retained states at once, but gives no sign that it has sent them all.
func (f *fleet) collect(ctx context.Context, d time.Duration, on func(*pole, string, []byte)) bool {
	t := clock.Real{}.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case m := <-f.msgs:
			f.handle(m, on)
		case <-t.C():
			return true
		case <-ctx.Done():
			return false
		}
	}
}

// handle applies one message; on, if set, sees it afterwards.
func (f *fleet) handle(m mqtt.Message, on func(*pole, string, []byte)) {
	id, kind, ok := wire.ParseDevTopic(f.o.root, m.Topic())
	if !ok || len(m.Payload()) == 0 {
		return
	}
	p := f.pole(id)
	switch kind {
	case "status":
		var s wire.Status
		if json.Unmarshal(m.Payload(), &s) == nil {
			p.online, p.seen = s.Online, true
			if s.Version != "" {
				p.version = s.Version
			}
		}
	case "state":
		var s poleState
		if json.Unmarshal(m.Payload(), &s) == nil {
			p.seen = true
			p.version, p.groups, p.ota = s.Version, s.Groups, s.OTA
		}
	case "event":
		var e wire.Event
		if json.Unmarshal(m.Payload(), &e) != nil || len(e.Type) < 4 || e.Type[:4] != "ota." {
			break
		}
		v, _ := e.Data["version"].(string)
		p.event, p.eventFor = e.Type, v
		switch e.Type {
		case "ota.progress":
			if pct, ok := e.Data["percent"].(float64); ok {
				p.progress = int(pct)
			}
		case "ota.rolled_back":
			p.detail = fmt.Sprintf("%v: %v", e.Data["reason"], e.Data["detail"])
		case "ota.failed":
			p.detail = fmt.Sprintf("%v: %v", e.Data["code"], e.Data["error"])
		}
	}
	if on != nil {
		on(p, kind, m.Payload())
	}
}

// inGroup reports whether the pole's retained state lists group.
func (p *pole) inGroup(group string) bool {
	return p.groups != nil && (group == "all" || slices.Contains(p.groups, group))
}
