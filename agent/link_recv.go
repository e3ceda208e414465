package agent

import (
	"slices"
	"strings"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// receive is paho's message callback. It must never block for long: paho
// reads the PUBACKs of our own messages on the same goroutine chain, so a
// callback waiting for the agent, while the agent waits for its outbox to
// drain, would deadlock. A command that finds the inbound queue full is
// dropped unacknowledged, and the link reconnects once the agent has
// caught up, so that the broker delivers it again (dropInbound).
func (l *Link) receive(_ mqtt.Client, m mqtt.Message) {
	l.rx.Add(1)
	topic := m.Topic()
	root := l.config().Topics.Root
	if ch, ok := strings.CutPrefix(topic, root+"/live/"); ok {
		m.Ack()
		if l.onLive != nil && !m.Retained() {
			l.onLive(ch, m.Payload(), l.clk.Now())
		}
		return
	}
	in := Inbound{Topic: topic, Payload: slices.Clone(m.Payload()), Retained: m.Retained(), Dup: m.Duplicate(), Ack: m.Ack}
	l.mu.Lock()
	if h := l.hold; h != nil && h.open {
		ok := h.add(in)
		l.mu.Unlock()
		if !ok {
			l.dropInbound(in)
		}
		return
	}
	l.mu.Unlock()
	l.deliver(in)
}

func (l *Link) deliver(in Inbound) {
	select {
	case l.inbound <- in:
	default:
		l.dropInbound(in)
	}
}

// dropInbound drops a message the agent cannot take: unacknowledged, so the
// broker delivers a QoS 1 command again at the next connection.
func (l *Link) dropInbound(in Inbound) {
	l.inDropped.Add(1)
	if !l.owed.Swap(true) {
		select {
		case l.owedC <- struct{}{}:
		default:
		}
		l.log.Warn("inbound queue full: commands dropped unacknowledged; the link reconnects to have them delivered again once the agent has caught up", "topic", in.Topic)
	}
}

// hold keeps the commands that arrive on a new connection before the
// subscription's retained messages have come: the broker delivers the
// session's queued commands first, then, after the SUBACK, the retained
// ones. A command published retained while the pole was offline comes
// twice: queued (without the retain flag) and retained. Held commands
// equal to a retained message of their topic are not executed.
type hold struct {
	open     bool
	held     []Inbound
	retained map[string][][]byte // topic → retained payloads seen
}

func (h *hold) add(in Inbound) bool {
	if in.Retained {
		if h.retained == nil {
			h.retained = map[string][][]byte{}
		}
		h.retained[in.Topic] = append(h.retained[in.Topic], in.Payload)
	}
	if len(h.held) >= maxHeld {
		return false
	}
	h.held = append(h.held, in)
	return true
}

// release ends the hold h (nil: whatever hold is current) and hands the
// held messages to the agent, the shadowed commands marked.
func (l *Link) release(h *hold) {
	l.mu.Lock()
	if h == nil {
		h = l.hold
	}
	if h == nil || l.hold != h {
		l.mu.Unlock()
		return
	}
	l.hold = nil
	held, retained := h.held, h.retained
	h.held = nil
	l.mu.Unlock()
	for _, in := range held {
		if !in.Retained && slices.ContainsFunc(retained[in.Topic], func(p []byte) bool { return string(p) == string(in.Payload) }) {
			in.Shadowed = true
		}
		l.deliver(in)
	}
}
