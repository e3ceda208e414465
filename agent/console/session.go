package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/internal/clock"
)

// Forms of a command, as events report them.
const (
	formHuman = "human"
	formJSON  = "json"
)

// noiseQuiet is the least time between two noise error lines: a loose
// cable can send garbage with many line ends, and one line a second says
// it as well as a thousand.
const noiseQuiet = 2 * time.Second

type pendingKind int

const (
	pendingNone     pendingKind = iota
	pendingPassword             // the next line is a password
	pendingConfirm              // the next line confirms a factory reset
)

// session is the console's state on one open port. It lives on the
// server's goroutine; nothing in it is shared.
type session struct {
	s  *Server
	c  *conn
	ed *editor

	active   bool // a session is open: input came and it has not idled out
	ended    bool // a session ended on this port (the next one shows the banner)
	loggedIn bool
	commands int
	pending  pendingKind
	idleT    clock.Timer
	id       string // the device id, for the prompt and the reset confirmation

	noiseAt      time.Time
	noiseSkipped int
}

func newSession(s *Server, c *conn) *session {
	return &session{s: s, c: c, ed: newEditor(s.opts.IsSecret)}
}

func (ss *session) print(text string) {
	ss.c.write([]byte(strings.ReplaceAll(text, "\n", "\r\n")))
}

func (ss *session) ctx() context.Context { return ss.s.ctx }

// greet shows the banner when the port opens.
func (ss *session) greet() {
	ss.print("\n" + ss.banner())
	ss.prompt()
}

func (ss *session) banner() string {
	bn := ss.s.opts.Backend.Banner(ss.ctx())
	if bn.ID != "" {
		ss.id = bn.ID
	}
	return renderBanner(bn, ss.access())
}

func (ss *session) access() accessState {
	acc := ss.s.opts.Backend.Access()
	idle := acc.Idle
	if idle <= 0 {
		idle = DefaultIdle
	}
	return accessState{PasswordSet: acc.PasswordHash != "", LoggedIn: ss.loggedIn, IdleS: int(idle / time.Second)}
}

// mayChange reports whether commands that change something are allowed.
func (ss *session) mayChange() bool {
	return ss.loggedIn || ss.s.opts.Backend.Access().PasswordHash == ""
}

func (ss *session) prompt() {
	id := ss.id
	if id == "" {
		id = "loaxa"
	}
	mark := "> "
	if ss.mayChange() {
		mark = "# "
	}
	ss.print(id + mark)
}

func (ss *session) idleC() <-chan time.Time {
	if ss.idleT == nil {
		return nil
	}
	return ss.idleT.C()
}

// touch records activity: it opens a session if none is open and restarts
// the idle timer.
func (ss *session) touch() {
	idle := time.Duration(ss.access().IdleS) * time.Second
	if ss.idleT == nil {
		ss.idleT = ss.s.clk.NewTimer(idle)
	} else {
		ss.idleT.Reset(idle)
	}
	if ss.active {
		return
	}
	ss.active = true
	ss.commands = 0
	ss.s.event(EventSession, map[string]any{"state": "start", "port": ss.s.opts.Name})
	if ss.ended {
		ss.print(ss.banner())
	}
}

// idle ends a session nobody used for console.idle_s.
func (ss *session) idle() {
	if !ss.active {
		return
	}
	d := time.Duration(ss.access().IdleS) * time.Second
	msg := fmt.Sprintf("\nsession ended after %s without input", d)
	if ss.loggedIn {
		msg += "; logged out"
	}
	ss.print(msg + "\n")
	ss.end("idle")
	ss.prompt()
}

// end closes the session (if open), logging out.
func (ss *session) end(reason string) {
	if ss.idleT != nil {
		ss.idleT.Stop()
		ss.idleT = nil
	}
	if !ss.active {
		return
	}
	if ss.loggedIn {
		ss.loggedIn = false
		ss.s.event(EventSession, map[string]any{"state": "logout", "reason": reason, "port": ss.s.opts.Name})
	}
	ss.s.event(EventSession, map[string]any{"state": "end", "reason": reason, "commands": ss.commands, "port": ss.s.opts.Name})
	ss.active, ss.ended, ss.pending = false, true, pendingNone
}

// input handles bytes from the port.
func (ss *session) input(p []byte) {
	lines, echo := ss.ed.feed(p)
	ss.c.write(echo)
	for _, l := range lines {
		ss.line(l)
	}
}

func (ss *session) line(l line) {
	if l.kind != lineNoise {
		ss.touch()
	}
	switch l.kind {
	case lineNoise:
		ss.noise(l)
		return
	case lineTooLong:
		ss.pending = pendingNone
		if l.json {
			ss.ackLine(wire.Ack{Error: wire.Errf(wire.CodeTooLarge, "the line was %d bytes; a JSON document may have at most %d", l.size, MaxJSONLine)})
			ss.commandEvent("", formJSON, false, wire.CodeTooLarge, nil)
			return
		}
		ss.print(fmt.Sprintf("error too_large: the line was %d bytes; a command may have at most %d (%d for a JSON document); discarded\n", l.size, MaxHumanLine, MaxJSONLine))
		ss.prompt()
		return
	case lineInterrupt:
		ss.pending = pendingNone
		ss.prompt()
		return
	}
	switch ss.pending {
	case pendingPassword:
		ss.pending = pendingNone
		ss.runHuman(&wire.Command{ID: ss.s.newID(), Cmd: cmdLogin, Args: mustJSON(map[string]string{"password": l.text})})
		ss.prompt()
		return
	case pendingConfirm:
		ss.pending = pendingNone
		ss.confirmReset(strings.TrimSpace(l.text))
		ss.prompt()
		return
	}
	text := strings.TrimSpace(l.text)
	switch {
	case l.json:
		ss.jsonLine(l.text)
	case text == "":
		ss.prompt()
	default:
		ss.humanLine(text)
		ss.prompt()
	}
}

// noise reports a line of binary garbage, at most once per noiseQuiet.
func (ss *session) noise(l line) {
	if ss.pending != pendingNone {
		ss.pending = pendingNone
		ss.print("cancelled\n")
	}
	now := ss.s.clk.Now()
	if !ss.noiseAt.IsZero() && now.Sub(ss.noiseAt) < noiseQuiet {
		ss.noiseSkipped++
		return
	}
	more := ""
	if ss.noiseSkipped > 0 {
		more = fmt.Sprintf(" (and %d more such lines)", ss.noiseSkipped)
	}
	ss.noiseAt, ss.noiseSkipped = now, 0
	ss.print(fmt.Sprintf("error bad_request: a line of %d bytes had control characters or invalid UTF-8%s; discarded (a loose cable, or a terminal not at %s?)\n", l.size, more, "115200 8N1"))
	ss.prompt()
}

func (ss *session) jsonLine(text string) {
	c, derr := wire.Decode([]byte(text), ss.s.clk.Now())
	if derr != nil {
		ss.ackLine(wire.Ack{ID: derr.ID, Cmd: derr.Cmd, Error: derr})
		ss.commandEvent(derr.Cmd, formJSON, false, derr.Code, nil)
		return
	}
	ack, _ := ss.execute(c, formJSON)
	ss.c.write(append(ack, '\r', '\n'))
}

// ackLine writes a console-made ack as one JSON line.
func (ss *session) ackLine(a wire.Ack) {
	ss.c.write(append(ss.encodeAck(a), '\r', '\n'))
}

func (ss *session) encodeAck(a wire.Ack) []byte {
	a.OK = a.Error == nil
	a.TS = ss.s.clk.Now().UnixMilli()
	b, err := json.Marshal(a)
	if err != nil {
		b, _ = json.Marshal(wire.Ack{ID: a.ID, Cmd: a.Cmd, Error: wire.Errf(wire.CodeInternal, "result not encodable"), TS: a.TS})
	}
	return b
}

func (ss *session) humanLine(text string) {
	name, args, perr := parseHuman(text)
	if perr != nil {
		ss.print(fmt.Sprintf("error %s: %s\n", perr.Code, perr.Message))
		ss.commandEvent(name, formHuman, false, perr.Code, nil)
		return
	}
	switch {
	case name == cmdLogin && args == nil:
		ss.loginPrompt()
		return
	case name == cmdFactoryReset && args == nil:
		if !ss.mayChange() {
			break // execute refuses it with the usual message
		}
		ss.print(ss.banner())
		id := ss.id
		if id == "" {
			id = "(none)"
		}
		ss.print(fmt.Sprintf("factory-reset erases the configuration and the data of pole %s and restarts it as a blank board.\n"+
			"Type the device id (%s) or YES to confirm; anything else cancels: ", id, id))
		ss.pending = pendingConfirm
		return
	case name == "status":
		ss.print(ss.banner())
	}
	ss.runHuman(&wire.Command{ID: ss.s.newID(), Cmd: name, Args: args})
}

// runHuman executes a command typed by a person and prints the outcome.
func (ss *session) runHuman(c *wire.Command) {
	ack, human := ss.execute(c, formHuman)
	if human != "" {
		ss.print(human)
		return
	}
	ss.print(renderAck(ack))
}

func (ss *session) loginPrompt() {
	if ss.s.opts.Backend.Access().PasswordHash == "" {
		ss.print("no console password is set on this board: every command is allowed\n")
		return
	}
	if w := ss.s.loginWait(); w > 0 {
		ss.print(fmt.Sprintf("error unauthorized: too many wrong passwords; try again in %s\n", roundUp(w)))
		return
	}
	ss.print("password: ")
	ss.ed.hideNext()
	ss.pending = pendingPassword
}

func (ss *session) confirmReset(answer string) {
	c := &wire.Command{ID: ss.s.newID(), Cmd: cmdFactoryReset, Args: mustJSON(map[string]string{"confirm": answer})}
	if answer != "YES" && (ss.id == "" || answer != ss.id) {
		ss.print("factory-reset cancelled\n")
		ss.commandEvent(cmdFactoryReset, formHuman, false, wire.CodeBadArgs, nil)
		return
	}
	ss.runHuman(c)
}

// execute runs one command document, whichever form it came in, and
// returns its ack, plus a rendering for people when the console has a
// better one than renderAck.
func (ss *session) execute(c *wire.Command, form string) (ack []byte, human string) {
	ss.commands++
	if !isReadOnly(c.Cmd) && !ss.mayChange() {
		e := wire.Errf(wire.CodeUnauthorized, "%s changes the pole: log in first (`login`; a console password is set)", c.Cmd)
		ss.commandEvent(c.Cmd, form, false, e.Code, nil)
		return ss.encodeAck(wire.Ack{ID: c.ID, Cmd: c.Cmd, Error: e}), ""
	}
	if sp := findSpec(c.Cmd); sp != nil && sp.local {
		result, human, e := ss.local(c, form)
		ack := wire.Ack{ID: c.ID, Cmd: c.Cmd, Result: result, Error: e}
		code := wire.Code("")
		if e != nil {
			code = e.Code
			human = ""
		}
		ss.commandEvent(c.Cmd, form, e == nil, code, keysOf(c))
		return ss.encodeAck(ack), human
	}
	doc, e := ss.remoteDoc(c)
	if e != nil {
		ss.commandEvent(c.Cmd, form, false, e.Code, keysOf(c))
		return ss.encodeAck(wire.Ack{ID: c.ID, Cmd: c.Cmd, Error: e}), ""
	}
	ack = ss.s.opts.Backend.Do(ss.ctx(), doc)
	var a ackDoc
	if err := json.Unmarshal(ack, &a); err != nil {
		a.Error = wire.Errf(wire.CodeInternal, "the agent's answer is not an ack")
	}
	var buf bytes.Buffer
	if json.Compact(&buf, ack) == nil {
		ack = buf.Bytes() // one line, whatever the backend wrote
	}
	code := wire.Code("")
	if a.Error != nil {
		code = a.Error.Code
	}
	ss.commandEvent(c.Cmd, form, a.OK, code, keysOf(c))
	return ack, ""
}

// remoteDoc builds the document for Backend.Do; a plain console password
// in a config.set is hashed first, so it is never stored or forwarded.
func (ss *session) remoteDoc(c *wire.Command) ([]byte, *wire.Error) {
	if c.Cmd == "config.set" && len(c.Args) > 0 {
		var args map[string]json.RawMessage
		if err := json.Unmarshal(c.Args, &args); err == nil {
			var values map[string]json.RawMessage
			if raw, ok := args["values"]; ok && json.Unmarshal(raw, &values) == nil && values != nil {
				if err := hashPasswordValues(values, ss.s.iter); err != nil {
					return nil, wire.Errf(wire.CodeBadArgs, "%v", err)
				}
				args["values"] = mustJSON(values)
				c.Args = mustJSON(args)
			}
		}
	}
	doc, err := json.Marshal(c)
	if err != nil {
		return nil, wire.Errf(wire.CodeInternal, "cannot encode the command: %v", err)
	}
	return doc, nil
}

// commandEvent reports one command: its name, form and outcome, and for
// configuration commands the key names, never a value.
func (ss *session) commandEvent(cmd, form string, ok bool, code wire.Code, keys []string) {
	data := map[string]any{"cmd": cmd, "form": form, "ok": ok, "port": ss.s.opts.Name}
	if !ok {
		data["code"] = string(code)
	}
	if keys != nil {
		data["keys"] = keys
	}
	ss.s.event(EventCommand, data)
	ss.s.log.Info("console command", "cmd", clip(cmd), "form", form, "ok", ok)
}

// keysOf returns the configuration key names a command names.
func keysOf(c *wire.Command) []string {
	switch c.Cmd {
	case "config.set":
		var a struct {
			Values map[string]json.RawMessage `json:"values"`
		}
		if json.Unmarshal(c.Args, &a) == nil {
			return slices.Sorted(maps.Keys(a.Values))
		}
	case "config.get":
		var a struct {
			Keys []string `json:"keys"`
		}
		if json.Unmarshal(c.Args, &a) == nil && a.Keys != nil {
			return a.Keys
		}
	case cmdProvision:
		var a struct {
			Config map[string]json.RawMessage `json:"config"`
		}
		if json.Unmarshal(c.Args, &a) == nil {
			return slices.Sorted(maps.Keys(a.Config))
		}
	}
	return nil
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

func roundUp(d time.Duration) time.Duration {
	return (d + time.Second - 1).Truncate(time.Second)
}
