package agent

import (
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/loaxa/loaxa/agent/wire"
)

// handler executes one decoded command. It returns the ack result, or an
// error; it must change nothing when it returns an error.
type handler func(a *Agent, c *wire.Command) (any, *wire.Error)

// handlers are the commands this firmware executes.
var handlers = map[string]handler{
	"ping":       (*Agent).cmdPing,
	"status":     (*Agent).cmdStatus,
	"zones":      (*Agent).cmdZones,
	"volume":     (*Agent).cmdVolume,
	"config.get": (*Agent).cmdConfigGet,
	"config.set": (*Agent).cmdConfigSet,
	"restart":    (*Agent).cmdRestart,
	"reboot":     (*Agent).cmdReboot,
	"play":       (*Agent).cmdPlay,
	"stop":       (*Agent).cmdStop,
}

// notYet are commands of protocol v1 that this firmware version does not
// execute yet; they are answered "unsupported", not "unknown_command".
var notYet = []string{"schedule.set", "schedule.get", "schedule.clear", "media.fetch", "log.get", "ota"}

// handle processes one inbound message: every message gets an ack or an
// event, and nothing in it can crash the agent.
func (a *Agent) handle(in Inbound) {
	if in.Ack != nil {
		// Acknowledged once handled (the ack or event is queued and the
		// state persisted): a crash before this point means redelivery,
		// which the remembered answers make harmless.
		defer in.Ack()
	}
	if len(in.Payload) == 0 {
		// An empty message is how MQTT clears a retained one (we do that
		// ourselves in ignoreRetained); it is not a command.
		a.log.Debug("empty message ignored", "topic", in.Topic)
		return
	}
	if in.Retained {
		a.ignoreRetained(in)
		return
	}
	now := a.clk.Now()
	c, derr := wire.Decode(in.Payload, now)
	if derr != nil && derr.Code == wire.CodeExpired {
		if prev, ok := a.findAck(derr.ID); ok {
			// A redelivery that arrives late is still the command already
			// carried out: the contract says re-send its first ack.
			a.log.Info("repeated command id, resending its ack", "id", derr.ID)
			a.link.Publish(Message{Topic: a.topics.Ack(), QoS: 1, Payload: prev})
			return
		}
	}
	if derr != nil {
		a.log.Info("command refused", "topic", in.Topic, "code", derr.Code, "err", derr.Message)
		// Refusals are not remembered: a later delivery of the same id is
		// judged again (and a late redelivery of an executed command was
		// answered above).
		a.ack(wire.Ack{ID: derr.ID, Cmd: derr.Cmd, Error: derr}, false)
		return
	}
	if prev, ok := a.findAck(c.ID); ok {
		// A QoS 1 redelivery, or the same command sent to a group and to
		// the device: answer again, never execute twice.
		a.log.Info("repeated command id, resending its ack", "id", c.ID, "cmd", c.Cmd)
		a.link.Publish(Message{Topic: a.topics.Ack(), QoS: 1, Payload: prev})
		return
	}
	if e := a.authorize(c, now); e != nil {
		a.log.Warn("unauthorized command", "id", c.ID, "cmd", c.Cmd, "err", e.Message)
		// Not remembered: a forged command must not poison the id of the
		// genuine one.
		a.ack(wire.Ack{ID: c.ID, Cmd: c.Cmd, Error: e}, false)
		return
	}
	result, e := a.dispatch(c)
	ack := wire.Ack{ID: c.ID, Cmd: c.Cmd, OK: e == nil, Result: result, Error: e}
	if e != nil && e.Result != nil {
		ack.Result = e.Result
	}
	a.log.Info("command", "id", c.ID, "cmd", c.Cmd, "ok", e == nil, "topic", in.Topic)
	a.ack(ack, true)
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
		return h(a, c)
	case slices.Contains(notYet, c.Cmd):
		return nil, wire.Errf(wire.CodeUnsupported, "%s is part of protocol v1 but not implemented by firmware %s", c.Cmd, a.opts.Version)
	default:
		return nil, wire.Errf(wire.CodeUnknownCommand, "unknown command %q", truncate(c.Cmd, 64))
	}
}

// ack sends an ack and, when remember is set, keeps it (persisted) so a
// repeated id gets the same answer.
func (a *Agent) ack(ack wire.Ack, remember bool) {
	ack.TS = a.clk.Now().UnixMilli()
	b, err := json.Marshal(ack)
	if err != nil {
		a.log.Error("cannot encode ack", "id", ack.ID, "err", err)
		b, _ = json.Marshal(wire.Ack{ID: ack.ID, Cmd: ack.Cmd, Error: wire.Errf(wire.CodeInternal, "result not encodable"), TS: ack.TS})
	}
	if remember && ack.ID != "" {
		a.acks = append(a.acks, recentAck{ID: ack.ID, Ack: b})
		if n := len(a.acks) - recentAcks; n > 0 {
			a.acks = slices.Delete(a.acks, 0, n)
		}
		if err := a.persist(); err != nil {
			a.log.Error("cannot save state", "err", err)
		}
	}
	a.link.Publish(Message{Topic: a.topics.Ack(), QoS: 1, Payload: b})
}

func (a *Agent) findAck(id string) ([]byte, bool) {
	for i := len(a.acks) - 1; i >= 0; i-- {
		if a.acks[i].ID == id {
			return a.acks[i].Ack, true
		}
	}
	return nil, false
}

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
	cleared := false
	if in.Topic == a.topics.Cmd() {
		a.link.Publish(Message{Topic: in.Topic, QoS: 1, Retained: true, Payload: []byte{}})
		cleared = true
	}
	a.log.Warn("retained command ignored", "topic", in.Topic, "id", truncate(peek.ID, 64), "cmd", truncate(peek.Cmd, 64))
	a.event(wire.EventRetainedIgnored, map[string]any{
		"topic": in.Topic, "id": truncate(peek.ID, 64), "cmd": truncate(peek.Cmd, 64), "cleared": cleared,
		"message": "commands published with the retain flag are never executed; publish commands without retain",
	})
}

// authorize checks the command signature when a command key is configured
// and the command is in auth.signed ("*" = all).
func (a *Agent) authorize(c *wire.Command, now time.Time) *wire.Error {
	if a.cmdKey == nil {
		return nil
	}
	signed := a.cfg.Auth.Signed
	if !slices.Contains(signed, "*") && !slices.Contains(signed, c.Cmd) {
		return nil
	}
	if c.Auth == "" {
		return wire.Errf(wire.CodeUnauthorized, "%s must be signed: add \"auth\" (see docs/protocol.md)", c.Cmd)
	}
	if c.TS == 0 {
		return wire.Errf(wire.CodeUnauthorized, "a signed command needs \"ts\"")
	}
	skew := now.Sub(time.UnixMilli(c.TS))
	if skew < 0 {
		skew = -skew
	}
	if max := time.Duration(a.cfg.Auth.MaxSkew) * time.Second; skew > max {
		return wire.Errf(wire.CodeUnauthorized, "ts is %s away from the device clock (at most %s)", skew.Round(time.Second), max)
	}
	if !wire.VerifySignature(a.cmdKey, c, c.Auth) {
		return wire.Errf(wire.CodeUnauthorized, "bad signature")
	}
	return nil
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic("agent: command key was validated as hex: " + err.Error())
	}
	return b
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
