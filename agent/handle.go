package agent

import (
	"encoding/hex"
	"encoding/json"
	"slices"
	"time"

	"github.com/loaxa/loaxa/agent/wire"
)

// handler executes one decoded command. It returns the ack result, or an
// error; it must change nothing when it returns an error.
type handler func(a *Agent, c *wire.Command) (any, *wire.Error)

// command is one command this firmware executes. A read-only command
// changes nothing: running it twice is harmless, so its id is not
// remembered, its answer is not kept across a power cut, and it writes
// nothing to flash.
type command struct {
	run      handler
	readOnly bool
}

// handlers are the commands this firmware executes.
var handlers = map[string]command{
	"ping":           {(*Agent).cmdPing, true},
	"status":         {(*Agent).cmdStatus, true},
	"config.get":     {(*Agent).cmdConfigGet, true},
	"log.get":        {(*Agent).cmdLogGet, true},
	"schedule.get":   {(*Agent).cmdScheduleGet, true},
	"schedule.set":   {run: (*Agent).cmdScheduleSet},
	"schedule.clear": {run: (*Agent).cmdScheduleClear},
	"media.fetch":    {run: (*Agent).cmdMediaFetch},
	"zones":          {run: (*Agent).cmdZones},
	"volume":         {run: (*Agent).cmdVolume},
	"config.set":     {run: (*Agent).cmdConfigSet},
	"restart":        {run: (*Agent).cmdRestart},
	"reboot":         {run: (*Agent).cmdReboot},
	"play":           {run: (*Agent).cmdPlay},
	"stop":           {run: (*Agent).cmdStop},
	"ota":            {run: (*Agent).cmdOTA},
}

// readOnly reports whether a command changes nothing.
func readOnly(cmd string) bool { return handlers[cmd].readOnly }

// notYet are commands of protocol v1 that this firmware version does not
// execute yet; they are answered "unsupported", not "unknown_command".
var notYet = []string{}

// handle processes one inbound message: every message gets an ack or an
// event, and nothing in it can crash the agent.
func (a *Agent) handle(in Inbound) {
	if in.Ack != nil {
		// Acknowledged to the broker once handled: its effects and its
		// answer are in the journals (the page cache: a crash of the agent
		// loses nothing; the store's syncer puts them on flash within
		// syncEvery). A crash before this point means a redelivery, which
		// the remembered answers make harmless.
		defer in.Ack()
	}
	if len(in.Payload) == 0 {
		// An empty message is how MQTT clears a retained one (we do that
		// ourselves in ignoreRetained); it is not a command.
		a.log.Debug("empty message ignored", "topic", in.Topic)
		return
	}
	if in.Retained || in.Shadowed {
		a.ignoreRetained(in)
		return
	}
	a.execute(in.Payload, &origin{topic: in.Topic})
}

// origin is where a command came from, and where its ack goes: published
// on the ack topic for a command that came over MQTT, handed back to the
// caller for one typed on the console.
type origin struct {
	// topic is the MQTT topic the command came in on.
	topic string
	// console marks a console command: its signature is not checked (the
	// console password stands for it), its ack goes to reply only, and
	// its id is remembered apart from MQTT ids.
	console bool
	reply   []byte
}

// send delivers an ack already encoded (a remembered one).
func (a *Agent) send(o *origin, b []byte) {
	if o.console {
		o.reply = b
		return
	}
	a.link.Publish(Message{Topic: a.topics.Ack(), QoS: 1, Payload: b})
}

// answerKey is the id under which a command's answer is remembered.
func (o *origin) answerKey(id string) string {
	if o.console {
		return consoleAnswerPrefix + id
	}
	return id
}

// consoleAnswerPrefix keeps the console's ids apart from MQTT ones: a
// technician typing {"id":"1",...} must not get the answer of an
// operator's command "1". The NUL cannot occur in an id read from JSON
// by a person, and it is never on the wire.
const consoleAnswerPrefix = "console\x00"

// execute decodes and runs one command document and sends its ack where
// it came from. MQTT and the console share it: the same decoding,
// remembered answers and handlers.
func (a *Agent) execute(payload []byte, o *origin) {
	now := a.clk.Now()
	c, derr := wire.Decode(payload, now)
	if derr != nil && derr.Code == wire.CodeExpired {
		if prev, ok := a.answers.find(o.answerKey(derr.ID), now); ok {
			// A redelivery that arrives late is still the command already
			// carried out: the contract says re-send its first ack.
			a.log.Info("repeated command id, resending its ack", "id", derr.ID)
			a.send(o, prev)
			return
		}
	}
	if derr != nil {
		a.log.Info("command refused", "topic", o.topic, "console", o.console, "code", derr.Code, "err", derr.Message)
		// Refusals are not remembered: a later delivery of the same id is
		// judged again (and a late redelivery of an executed command was
		// answered above).
		a.ack(o, wire.Ack{ID: derr.ID, Cmd: derr.Cmd, Error: derr}, nil)
		return
	}
	if prev, ok := a.answers.find(o.answerKey(c.ID), now); ok {
		// A QoS 1 redelivery, or the same command sent to a group and to
		// the device: answer again, never execute twice.
		a.log.Info("repeated command id, resending its ack", "id", c.ID, "cmd", c.Cmd)
		a.send(o, prev)
		return
	}
	signed := false
	if !o.console {
		var e *wire.Error
		signed, e = a.authorize(c, o.topic, now)
		if e != nil {
			a.log.Warn("unauthorized command", "id", c.ID, "cmd", c.Cmd, "err", e.Message)
			// Not remembered: a forged command must not poison the id of the
			// genuine one.
			a.ack(o, wire.Ack{ID: c.ID, Cmd: c.Cmd, Error: e}, nil)
			return
		}
	}
	if a.answers.full(signed, now) {
		// Executing it without remembering it could execute it twice.
		a.ack(o, wire.Ack{ID: c.ID, Cmd: c.Cmd, Error: wire.Errf(wire.CodeBusy,
			"%d signed commands are remembered within auth.max_skew; try again later", maxSignedAnswers)}, nil)
		return
	}
	result, e := a.dispatch(c)
	ack := wire.Ack{ID: c.ID, Cmd: c.Cmd, OK: e == nil, Result: result, Error: e}
	if e != nil && e.Result != nil {
		ack.Result = e.Result
	}
	a.log.Info("command", "id", c.ID, "cmd", c.Cmd, "ok", e == nil, "topic", o.topic, "console", o.console)
	var keep *remember
	if !readOnly(c.Cmd) || signed {
		keep = &remember{signed: signed, until: until(c, signed, a.maxSkew(), now)}
	}
	a.ack(o, ack, keep)
	if f := a.afterAck; f != nil {
		a.afterAck = nil
		f()
	}
}

func (a *Agent) dispatch(c *wire.Command) (result any, e *wire.Error) {
	defer func() {
		// A bug in one handler must not take the pole off the air.
		if r := recover(); r != nil {
			a.log.Error("command handler panicked", "cmd", c.Cmd, "panic", r)
			result, e = nil, wire.Errf(wire.CodeInternal, "internal error in %s", c.Cmd)
		}
	}()
	h, ok := handlers[c.Cmd]
	switch {
	case ok:
		return h.run(a, c)
	case slices.Contains(notYet, c.Cmd):
		return nil, wire.Errf(wire.CodeUnsupported, "%s is part of protocol v1 but not implemented by firmware %s", c.Cmd, a.opts.Version)
	default:
		return nil, wire.Errf(wire.CodeUnknownCommand, "unknown command %q", wire.Truncate(c.Cmd, 64))
	}
}

// remember says how an executed command's id is remembered.
type remember struct {
	signed bool
	until  time.Time
}

// ack sends an ack where its command came from. With keep set (a command
// that changed something, or a signed one) the ack is remembered so a
// repeated id gets the same answer, and over MQTT it is a durable message,
// numbered; otherwise a volatile one. A console ack goes to the console
// only, unnumbered.
func (a *Agent) ack(o *origin, ack wire.Ack, keep *remember) {
	ack.TS = a.clk.Now().UnixMilli()
	encode := func() []byte {
		b, err := json.Marshal(ack)
		if err != nil {
			a.log.Error("cannot encode ack", "id", ack.ID, "err", err)
			b, _ = json.Marshal(wire.Ack{Seq: ack.Seq, ID: ack.ID, Cmd: ack.Cmd, Error: wire.Errf(wire.CodeInternal, "result not encodable"), TS: ack.TS})
		}
		return b
	}
	if keep == nil || ack.ID == "" {
		a.send(o, encode())
		return
	}
	var b []byte
	if o.console {
		b = encode()
		o.reply = b
	} else {
		_, err := a.link.PublishDurable(a.topics.Ack(), func(seq uint64) []byte {
			ack.Seq = seq
			b = encode()
			return b
		})
		a.outboxStored(err)
		if err != nil {
			b = encode()
			a.link.Publish(Message{Topic: a.topics.Ack(), QoS: 1, Payload: b})
		}
	}
	stored := b
	if len(stored) > maxStoredAck {
		// Shrunk here, so the small ack names the id as sent, not its key.
		stored = repeatAck(ack.ID, ack.Cmd, stored)
	}
	e := a.answers.add(o.answerKey(ack.ID), ack.Cmd, stored, keep.signed, keep.until, a.clk.Now())
	if a.store != nil {
		live := func(id string) bool { _, ok := a.answers.find(id, a.clk.Now()); return ok }
		if err := a.store.saveAnswer(e, live); err != nil {
			a.log.Error("cannot save the answer", "id", ack.ID, "err", err)
			a.storageFault(storageAnswers, "cannot save answers: "+err.Error())
		} else {
			a.storageFault(storageAnswers, "")
		}
	}
}

func (a *Agent) storeFailed() <-chan error {
	if a.store == nil {
		return nil
	}
	return a.store.failed
}

func (a *Agent) maxSkew() time.Duration { return time.Duration(a.cfg.Auth.MaxSkew) * time.Second }

// ignoreRetained refuses a retained command: a stale one left on the broker
// must not switch relays or play audio after every reconnect (Tasmota's
// classic pitfall). A retained command on the device's own topic is also
// cleared from the broker so it stops coming back.
func (a *Agent) ignoreRetained(in Inbound) {
	var peek struct {
		ID  string `json:"id"`
		Cmd string `json:"cmd"`
	}
	json.Unmarshal(in.Payload, &peek)
	if in.Shadowed {
		// The session's queued copy of a command that is also retained (it
		// was published retained while the pole was offline): the retained
		// copy is reported and cleared when it arrives.
		a.log.Warn("queued copy of a retained command ignored", "topic", in.Topic, "id", wire.Truncate(peek.ID, 64), "cmd", wire.Truncate(peek.Cmd, 64))
		return
	}
	cleared := false
	if in.Topic == a.topics.Cmd() {
		a.link.Publish(Message{Topic: in.Topic, QoS: 1, Retained: true, Payload: []byte{}})
		cleared = true
	}
	a.log.Warn("retained command ignored", "topic", in.Topic, "id", wire.Truncate(peek.ID, 64), "cmd", wire.Truncate(peek.Cmd, 64))
	a.event(wire.EventRetainedIgnored, map[string]any{
		"topic": in.Topic, "id": wire.Truncate(peek.ID, 64), "cmd": wire.Truncate(peek.Cmd, 64), "cleared": cleared,
		"message": "commands published with the retain flag are never executed (nor their queued copy); publish commands without retain",
	})
}

// authorize checks the command signature when a command key is configured
// and the command is in auth.signed ("*" = all); signed tells whether it
// was checked. The signature must cover the topic the command came in on
// (its target), so a command signed for one pole runs nowhere else.
func (a *Agent) authorize(c *wire.Command, topic string, now time.Time) (signed bool, e *wire.Error) {
	if a.cmdKey == nil {
		return false, nil
	}
	list := a.cfg.Auth.Signed
	if !slices.Contains(list, "*") && !slices.Contains(list, c.Cmd) {
		return false, nil
	}
	if c.Auth == "" {
		return false, wire.Errf(wire.CodeUnauthorized, "%s must be signed: add \"auth\" (see docs/protocol.md)", c.Cmd)
	}
	if c.TS == 0 {
		return false, wire.Errf(wire.CodeUnauthorized, "a signed command needs \"ts\"")
	}
	skew := now.Sub(time.UnixMilli(c.TS))
	if skew < 0 {
		skew = -skew
	}
	if max := a.maxSkew(); skew > max {
		return false, wire.Errf(wire.CodeUnauthorized, "ts is %s away from the device clock (at most %s)", skew.Round(time.Second), max)
	}
	target, ok := wire.Target(a.cfg.TopicRoot, topic)
	if ok && wire.Verify(a.cmdKey, target, c, c.Auth) {
		return true, nil
	}
	if wire.VerifyLegacy(a.cmdKey, c, c.Auth) {
		if a.cfg.Auth.LegacySignatures {
			return true, nil
		}
		return false, wire.Errf(wire.CodeUnauthorized, "signed in the v1 form, which does not cover the target: sign %q as docs/protocol.md says (or set auth.legacy_signatures while migrating)", target)
	}
	return false, wire.Errf(wire.CodeUnauthorized, "bad signature for %q", target)
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic("agent: command key was validated as hex: " + err.Error())
	}
	return b
}
