package agent

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// Message is one outgoing MQTT message.
type Message struct {
	Topic    string
	QoS      byte
	Retained bool
	Payload  []byte
}

// Durable is the on-disk queue behind the outbox's durable messages
// (internal/journal.Queue in the agent): what is pushed is delivered until
// acknowledged, across restarts and power cuts.
type Durable interface {
	// Next is the seq the next Push will get.
	Next() uint64
	Push(recs ...[]byte) (first uint64, err error)
	// Ack marks records delivered (in any order).
	Ack(seqs ...uint64) error
}

// ErrOutboxFull is returned by PublishDurable when the durable queue is at
// its bound: the agent stops taking commands until it drains.
var ErrOutboxFull = errors.New("outbox full")

// outbox holds what the agent publishes until the broker has it. Durable
// messages (events, answers to commands that change something) are also
// in the Durable queue, numbered by its seq, and leave it only once the
// broker acknowledged them. Volatile ones (answers to read-only commands,
// retained documents, telemetry) live in memory only: retained ones
// coalesce per topic, telemetry is dropped while the broker is away.
//
// It is shared by the agent's Run goroutine (Publish*), the link's session
// goroutine (next, delivered, reset) and telemetry (stats).
type outbox struct {
	mu      sync.Mutex // guards everything below
	items   []*outItem // pending, in the order they were made
	made    uint64     // how many items were ever queued: the next order
	bytes   int
	durable Durable // nil: memory only (tests)
	dropped uint64  // volatile messages dropped at the bound
	// lowWater is signalled when the backlog falls to half its bound after
	// having been over it.
	over  bool
	space chan struct{}
	wake  chan struct{} // signalled when something is queued
}

type outItem struct {
	Message
	order uint64 // when it was made, among all items
	dseq  uint64 // seq in the durable queue; 0 for a volatile message
	sent  bool   // published on the current connection, not yet acknowledged
}

const (
	// maxVolatile bounds the volatile messages kept; beyond it the oldest
	// non-retained ones are dropped (and counted). The agent stops taking
	// commands well before (backlogHigh), so answers are not dropped.
	maxVolatile = 4096
	// backlogHigh and backlogLow are the hysteresis of Backlogged: above
	// backlogHigh pending messages the agent stops taking commands, below
	// backlogLow it takes them again.
	backlogHigh = 2048
	backlogLow  = 1024
	// maxBacklogBytes bounds the payload bytes kept in memory.
	maxBacklogBytes = 16 << 20
)

func newOutbox(durable Durable) *outbox {
	return &outbox{durable: durable, space: make(chan struct{}, 1), wake: make(chan struct{}, 1)}
}

// load queues durable messages left by the previous run (unacknowledged),
// before anything new.
func (o *outbox) load(seq uint64, rec []byte) error {
	m, err := decodeRecord(bytes.Clone(rec)) // rec is the journal's buffer
	if err != nil {
		// Not ours to deliver: acknowledge it so it does not block the rest.
		return errors.Join(fmt.Errorf("outbox record %d: %w", seq, err), o.durable.Ack(seq))
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.add(&outItem{Message: m, dseq: seq})
	return nil
}

// add queues an item; o.mu is held.
func (o *outbox) add(it *outItem) {
	o.made++
	it.order = o.made
	o.items = append(o.items, it)
	o.bytes += len(it.Payload)
}

// Publish queues a volatile message. A retained message replaces a queued
// one on the same topic that is not on its way yet: only the latest state
// matters.
func (o *outbox) Publish(m Message) {
	o.mu.Lock()
	if m.Retained {
		o.items = slices.DeleteFunc(o.items, func(it *outItem) bool {
			if it.Retained && it.dseq == 0 && !it.sent && it.Topic == m.Topic {
				o.bytes -= len(it.Payload)
				return true
			}
			return false
		})
	}
	o.add(&outItem{Message: m})
	o.boundVolatile()
	o.mu.Unlock()
	o.signal()
}

// PublishDurable numbers a message by its seq in the durable queue, builds
// its payload with that seq, stores it and queues it. It returns the seq.
// ErrOutboxFull means nothing was stored.
func (o *outbox) PublishDurable(topic string, build func(seq uint64) []byte) (uint64, error) {
	o.mu.Lock()
	defer o.signal()
	defer o.mu.Unlock()
	if o.durable == nil {
		o.add(&outItem{Message: Message{Topic: topic, QoS: 1, Payload: build(0)}})
		return 0, nil
	}
	if o.bytes > maxBacklogBytes {
		return 0, ErrOutboxFull
	}
	seq := o.durable.Next()
	m := Message{Topic: topic, QoS: 1, Payload: build(seq)}
	got, err := o.durable.Push(encodeRecord(m))
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrOutboxFull, err)
	}
	if got != seq {
		// Only this goroutine pushes; a mismatch is a bug, but the message
		// is stored and will be delivered, with the seq in its payload.
		return got, fmt.Errorf("outbox: durable queue gave seq %d, expected %d", got, seq)
	}
	o.add(&outItem{Message: m, dseq: seq})
	return seq, nil
}

// boundVolatile drops the oldest volatile, non-retained messages beyond
// maxVolatile; o.mu is held.
func (o *outbox) boundVolatile() {
	n := 0
	for _, it := range o.items {
		if it.dseq == 0 && !it.Retained {
			n++
		}
	}
	for n > maxVolatile {
		i := slices.IndexFunc(o.items, func(it *outItem) bool { return it.dseq == 0 && !it.Retained && !it.sent })
		if i < 0 {
			return
		}
		o.bytes -= len(o.items[i].Payload)
		o.items = slices.Delete(o.items, i, i+1)
		o.dropped++
		n--
	}
}

// dropQoS0 drops telemetry while the broker is away: it is periodic, and
// stale values are worse than none.
func (o *outbox) dropQoS0() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.items = slices.DeleteFunc(o.items, func(it *outItem) bool {
		if it.QoS == 0 && !it.Retained {
			o.bytes -= len(it.Payload)
			o.dropped++
			return true
		}
		return false
	})
}

// next marks up to n messages not yet sent on this connection as sent and
// returns them, in order.
func (o *outbox) next(n int) []*outItem {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []*outItem
	for _, it := range o.items {
		if len(out) == n {
			break
		}
		if !it.sent {
			it.sent = true
			out = append(out, it)
		}
	}
	return out
}

// delivered removes messages the broker acknowledged (or, for QoS 0, that
// were written) and acknowledges the durable ones in the queue.
func (o *outbox) delivered(done []*outItem) error {
	var seqs []uint64
	o.mu.Lock()
	o.items = slices.DeleteFunc(o.items, func(it *outItem) bool {
		if slices.Contains(done, it) {
			o.bytes -= len(it.Payload)
			if it.dseq != 0 {
				seqs = append(seqs, it.dseq)
			}
			return true
		}
		return false
	})
	if o.over && len(o.items) <= backlogLow {
		o.over = false
		select {
		case o.space <- struct{}{}:
		default:
		}
	}
	o.mu.Unlock()
	if len(seqs) == 0 || o.durable == nil {
		return nil
	}
	return o.durable.Ack(seqs...)
}

// reset forgets what was sent on a connection that is gone: it is all sent
// again on the next one (at least once).
func (o *outbox) reset() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, it := range o.items {
		it.sent = false
	}
}

// Backlogged reports whether so much waits for the broker that the agent
// should stop taking commands; Space is signalled when it should take them
// again.
func (o *outbox) Backlogged() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.items) > backlogHigh || o.bytes > maxBacklogBytes {
		o.over = true
	}
	return o.over
}

// Space is signalled when the backlog has drained after Backlogged.
func (o *outbox) Space() <-chan struct{} { return o.space }

// pending returns the number of messages waiting and how many were dropped.
func (o *outbox) stats() (pending int, dropped uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.items), o.dropped
}

func (o *outbox) signal() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// A durable record is the message's QoS, its topic and its payload:
// qos (1 byte), topic length (2 bytes, big endian), topic, payload.
func encodeRecord(m Message) []byte {
	b := make([]byte, 0, 3+len(m.Topic)+len(m.Payload))
	b = append(b, m.QoS)
	b = binary.BigEndian.AppendUint16(b, uint16(len(m.Topic)))
	b = append(b, m.Topic...)
	return append(b, m.Payload...)
}

func decodeRecord(b []byte) (Message, error) {
	if len(b) < 3 {
		return Message{}, errors.New("record too short")
	}
	n := int(binary.BigEndian.Uint16(b[1:3]))
	if b[0] > 1 || len(b) < 3+n || n == 0 {
		return Message{}, errors.New("not an outbox record")
	}
	return Message{QoS: b[0], Topic: string(b[3 : 3+n]), Payload: b[3+n:]}, nil
}
