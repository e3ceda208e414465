package agent

import (
	"encoding/json"
	"time"

	"github.com/loaxa/loaxa/agent/wire"
)

// answers remembers the commands already executed, so that a repeated id
// (a QoS 1 redelivery, the same command sent to a group and to the pole,
// or a captured command replayed) is answered again and never executed
// twice. An id is kept for as long as a command with it could still be
// accepted: a signed one until its ts leaves the auth.max_skew window, an
// unsigned one for answerRetention (or until ts+ttl when that is later). Signed and
// unsigned ids are bounded apart, so a flood of unsigned commands cannot
// push a signed id out (issue 7, finding 2). Owned by the Run goroutine.
type answers struct {
	byID     map[string]*answer
	signed   int // how many entries are signed
	unsigned int
}

// answer is one remembered command.
type answer struct {
	ID     string          `json:"id"`
	Until  int64           `json:"until"` // ms epoch: forgotten after this
	Signed bool            `json:"signed,omitempty"`
	Ack    json.RawMessage `json:"ack"`
}

const (
	// answerRetention is how long an unsigned command without a ttl is
	// remembered: a QoS 1 redelivery comes within a reconnect or two.
	answerRetention = 24 * time.Hour
	// maxUnsignedAnswers and maxSignedAnswers bound the memory.
	maxUnsignedAnswers = 2048
	maxSignedAnswers   = 4096
	// maxStoredAck bounds a remembered ack; a larger one is re-answered as a
	// small ack that says it is a repeat (issue 7, finding 5).
	maxStoredAck = 1024
)

func newAnswers() *answers { return &answers{byID: map[string]*answer{}} }

// find returns the remembered ack of id, unless it has expired.
func (m *answers) find(id string, now time.Time) ([]byte, bool) {
	e, ok := m.byID[id]
	if !ok || now.UnixMilli() > e.Until {
		return nil, false
	}
	return e.Ack, true
}

// full reports whether a new signed command cannot be remembered: then it
// must not run, or it could run twice.
func (m *answers) full(signed bool, now time.Time) bool {
	if !signed || m.signed < maxSignedAnswers {
		return false
	}
	m.expire(now)
	return m.signed >= maxSignedAnswers
}

// until is how long a command must be remembered.
func until(c *wire.Command, signed bool, maxSkew time.Duration, now time.Time) time.Time {
	switch {
	case signed:
		return time.UnixMilli(c.TS).Add(maxSkew)
	case c.TTL > 0:
		// Past ts+ttl a new delivery is refused as expired, but a late
		// redelivery of this one must still get its first ack: remember it
		// as long as any other, or longer when the ttl is longer.
		if d := c.Deadline(); d.After(now.Add(answerRetention)) {
			return d
		}
	}
	return now.Add(answerRetention)
}

// add remembers an executed command's ack (shrunk when large) and returns
// the entry, for the store to persist.
func (m *answers) add(id, cmd string, ack []byte, signed bool, until, now time.Time) *answer {
	if len(ack) > maxStoredAck {
		ack = repeatAck(id, cmd, ack)
	}
	e := &answer{ID: id, Until: until.UnixMilli(), Signed: signed, Ack: ack}
	m.put(e)
	if m.unsigned > maxUnsignedAnswers {
		m.expire(now)
		for m.unsigned > maxUnsignedAnswers {
			m.evictOldestUnsigned()
		}
	}
	return e
}

// put inserts or replaces an entry (also used when loading the store).
func (m *answers) put(e *answer) {
	if old, ok := m.byID[e.ID]; ok {
		m.count(old, -1)
	}
	m.byID[e.ID] = e
	m.count(e, 1)
}

func (m *answers) count(e *answer, d int) {
	if e.Signed {
		m.signed += d
	} else {
		m.unsigned += d
	}
}

// expire forgets what can no longer be accepted.
func (m *answers) expire(now time.Time) {
	ms := now.UnixMilli()
	for id, e := range m.byID {
		if ms > e.Until {
			m.count(e, -1)
			delete(m.byID, id)
		}
	}
}

func (m *answers) evictOldestUnsigned() {
	var oldest *answer
	for _, e := range m.byID {
		if !e.Signed && (oldest == nil || e.Until < oldest.Until) {
			oldest = e
		}
	}
	if oldest != nil {
		m.count(oldest, -1)
		delete(m.byID, oldest.ID)
	}
}

// repeatAck is the small ack kept for a command whose answer was too large
// to remember: its outcome, without its result.
func repeatAck(id, cmd string, full []byte) []byte {
	var a struct {
		OK    bool        `json:"ok"`
		Error *wire.Error `json:"error"`
		TS    int64       `json:"ts"`
	}
	json.Unmarshal(full, &a)
	small := wire.Ack{ID: id, Cmd: cmd, OK: a.OK, Error: a.Error, TS: a.TS,
		Result: map[string]any{"repeat": true, "note": "this command was already executed; its result was too large to keep: ask again with a new id"}}
	if !a.OK {
		small.Result = nil
	}
	b, _ := json.Marshal(small)
	return b
}
