package agent

import (
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/loaxa/loaxa/agent/wire"
)

// event publishes an event as a durable message: numbered, kept on disk
// until the broker has it. Repetitive events are rate-limited per kind and
// subject (a live channel restarting on every frame must not flood out the
// acks and play records): the next one that passes says how many were
// folded.
func (a *Agent) event(typ string, data map[string]any) {
	folded, ok := a.limiter.allow(eventKey(typ, data), a.clk.Now())
	if !ok {
		return
	}
	if folded > 0 {
		if data == nil {
			data = map[string]any{}
		}
		data["folded"] = folded
	}
	ev := wire.Event{TS: a.clk.Now().UnixMilli(), Type: typ, Data: data}
	seq, err := a.link.PublishDurable(a.topics.Event(), func(seq uint64) []byte {
		ev.Seq = seq
		b, err := json.Marshal(ev)
		if err != nil {
			a.log.Error("cannot encode event", "type", typ, "err", err)
			b, _ = json.Marshal(wire.Event{Seq: seq, TS: ev.TS, Type: typ})
		}
		return b
	})
	a.outboxStored(err)
	if err != nil {
		return
	}
	a.log.Debug("event stored", "seq", seq, "type", typ)
}

// outboxStored reports whether a durable message was stored: an error
// means the data partition is full or failing, or the backlog is at its
// bound, and raises the storage alarm until a message is stored again.
func (a *Agent) outboxStored(err error) {
	if err == nil {
		a.storageFault(storageOutbox, "")
		return
	}
	a.log.Error("outbox: message not stored", "err", err)
	if errors.Is(err, ErrOutboxFull) {
		a.storageFault(storageOutbox, "the outbox cannot store more messages: "+err.Error())
	}
}

// eventKey is what makes two events "the same" for the limiter: the type
// and the subject it is about.
func eventKey(typ string, data map[string]any) string {
	if strings.HasPrefix(typ, "play.") || strings.HasPrefix(typ, "log.") || strings.HasPrefix(typ, "schedule.") || typ == wire.EventWatchdogStep {
		// The playback log, the schedule's account and the watchdog's
		// steps (at most a few dozen per outage): never folded.
		return ""
	}
	k := typ
	subject := []string{"name", "item", "channel", "input", "topic"}
	if strings.HasPrefix(typ, "console.") {
		// A technician's session: each command and each session step is
		// its own subject, so a provisioning run is recorded whole.
		subject = []string{"cmd", "state"}
	}
	for _, f := range subject {
		if v, ok := data[f].(string); ok {
			k += "|" + f + "=" + v
		}
	}
	return k
}

// limiter is a token bucket per event key: a burst of limitBurst, then one
// every limitEvery. Owned by the Run goroutine; it keeps at most
// limitKeys keys.
type limiter struct {
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
	folded int
}

const (
	limitBurst = 5
	limitEvery = 2 * time.Second
	limitKeys  = 512
)

// allow reports whether an event of key may go now, and how many of that
// key were folded since the last one that went.
func (l *limiter) allow(key string, now time.Time) (folded int, ok bool) {
	if key == "" {
		return 0, true
	}
	if l.buckets == nil {
		l.buckets = map[string]*bucket{}
	}
	b, found := l.buckets[key]
	if !found {
		if len(l.buckets) >= limitKeys {
			l.evict(now)
		}
		b = &bucket{tokens: limitBurst, last: now}
		l.buckets[key] = b
	}
	b.tokens = min(limitBurst, b.tokens+now.Sub(b.last).Seconds()/limitEvery.Seconds())
	b.last = now
	if b.tokens < 1 {
		b.folded++
		return 0, false
	}
	b.tokens--
	folded, b.folded = b.folded, 0
	return folded, true
}

// evict forgets full buckets with nothing folded (they hold no state worth
// keeping), or the stalest one.
func (l *limiter) evict(now time.Time) {
	var stalest string
	for k, b := range l.buckets {
		if b.folded == 0 && b.tokens+now.Sub(b.last).Seconds()/limitEvery.Seconds() >= limitBurst {
			delete(l.buckets, k)
			continue
		}
		if stalest == "" || b.last.Before(l.buckets[stalest].last) {
			stalest = k
		}
	}
	if len(l.buckets) >= limitKeys && stalest != "" {
		delete(l.buckets, stalest)
	}
}

// raise records an alarm (once) and announces it.
func (a *Agent) raise(name, detail string) {
	if old, ok := a.alarms[name]; ok && old.Detail == detail {
		return
	}
	al := wire.Alarm{Name: name, Since: a.clk.Now().UnixMilli(), Detail: detail}
	a.alarms[name] = al
	a.log.Warn("alarm", "name", name, "detail", detail)
	a.event(wire.EventAlarm, map[string]any{"name": name, "detail": detail})
}

// clear ends an alarm and announces it.
func (a *Agent) clear(name string) {
	if _, ok := a.alarms[name]; !ok {
		return
	}
	delete(a.alarms, name)
	a.log.Info("alarm cleared", "name", name)
	a.event(wire.EventAlarmCleared, map[string]any{"name": name})
}
