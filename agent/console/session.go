package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/hal"
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

// local executes the console's own commands.
func (ss *session) local(c *wire.Command, form string) (result any, human string, e *wire.Error) {
	ctx, b := ss.ctx(), ss.s.opts.Backend
	switch c.Cmd {
	case cmdHelp:
		var args struct {
			Cmd string `json:"cmd"`
		}
		if e := wire.DecodeArgs(c.Args, &args); e != nil {
			return nil, "", e
		}
		text, e := helpText(args.Cmd)
		if e != nil {
			return nil, "", e
		}
		return map[string]string{"help": text}, text, nil
	case cmdBanner:
		if e := wire.DecodeArgs(c.Args, &struct{}{}); e != nil {
			return nil, "", e
		}
		bn := b.Banner(ctx)
		if bn.ID != "" {
			ss.id = bn.ID
		}
		acc := ss.access()
		return map[string]any{"banner": bn, "console": acc}, renderBanner(bn, acc), nil
	case cmdLogin:
		var args struct {
			Password string `json:"password"`
		}
		if e := wire.DecodeArgs(c.Args, &args); e != nil {
			return nil, "", e
		}
		return ss.login(args.Password)
	case cmdLogout:
		if e := wire.DecodeArgs(c.Args, &struct{}{}); e != nil {
			return nil, "", e
		}
		was := ss.loggedIn
		ss.loggedIn = false
		if was {
			ss.s.event(EventSession, map[string]any{"state": "logout", "reason": "command", "port": ss.s.opts.Name})
		}
		return map[string]bool{"logged_in": false}, "logged out\n", nil
	case cmdTestRelay:
		var args struct {
			Name string `json:"name"`
		}
		if e := wire.DecodeArgs(c.Args, &args); e != nil {
			return nil, "", e
		}
		if args.Name == "" {
			return nil, "", wire.Errf(wire.CodeBadArgs, `"name" is required: a zone such as z1, or amp`)
		}
		return testResult("relay "+args.Name, func() (TestReport, error) { return b.TestRelay(ctx, args.Name) })
	case cmdTestTone, cmdTestModem, cmdTestBroker:
		if e := wire.DecodeArgs(c.Args, &struct{}{}); e != nil {
			return nil, "", e
		}
		part, f := strings.TrimPrefix(c.Cmd, "test."), b.TestTone
		switch c.Cmd {
		case cmdTestModem:
			f = b.TestModem
		case cmdTestBroker:
			f = b.TestBroker
		}
		return testResult(part, func() (TestReport, error) { return f(ctx) })
	case cmdProvision:
		p, e := parseProvisioning(c.Args, ss.s.iter)
		if e != nil {
			return nil, "", e
		}
		rep, err := b.Provision(ctx, p)
		if err != nil {
			return nil, "", errorOf(err)
		}
		if rep.Changed == nil {
			rep.Changed = []string{}
		}
		if rep.ID != "" {
			ss.id = rep.ID
		}
		h := fmt.Sprintf("ok: pole %s provisioned; %d key(s) changed: %s\n", rep.ID, len(rep.Changed), orNone(rep.Changed))
		if rep.Restart {
			h += "the pole restarts its link now; then run the tests (`test relay NAME`, `test tone`, `test modem`, `test broker`)\n"
		}
		return rep, h, nil
	case cmdFactoryReset:
		var args struct {
			Confirm string `json:"confirm"`
		}
		if e := wire.DecodeArgs(c.Args, &args); e != nil {
			return nil, "", e
		}
		id := ss.id
		if id == "" {
			id = b.Banner(ctx).ID
		}
		if args.Confirm != "YES" && (id == "" || args.Confirm != id) {
			return nil, "", wire.Errf(wire.CodeBadArgs, `"confirm" must be the device id (%s) or YES`, orUnknown(id))
		}
		if err := b.FactoryReset(ctx); err != nil {
			return nil, "", errorOf(err)
		}
		if ss.loggedIn {
			ss.loggedIn = false // the password is gone with the configuration
			ss.s.event(EventSession, map[string]any{"state": "logout", "reason": "factory-reset", "port": ss.s.opts.Name})
		}
		return map[string]bool{"reset": true}, "ok: configuration and data are back to their defaults; the pole restarts as a blank board\n", nil
	}
	return nil, "", wire.Errf(wire.CodeUnknownCommand, "unknown command %q", clip(c.Cmd))
}

// login checks a password. It is rate-limited across sessions: each wrong
// password doubles the wait before the next try.
func (ss *session) login(password string) (any, string, *wire.Error) {
	acc := ss.s.opts.Backend.Access()
	if acc.PasswordHash == "" {
		return map[string]bool{"logged_in": false, "password_set": false},
			"no console password is set on this board: every command is allowed\n", nil
	}
	if w := ss.s.loginWait(); w > 0 {
		return nil, "", wire.Errf(wire.CodeUnauthorized, "too many wrong passwords; try again in %s", roundUp(w))
	}
	if !VerifyPassword(acc.PasswordHash, password) {
		d := ss.s.loginFailed()
		ss.s.event(EventSession, map[string]any{"state": "login_failed", "failures": ss.s.failures, "retry_in_s": int(d / time.Second), "port": ss.s.opts.Name})
		ss.s.log.Warn("console login failed", "port", ss.s.opts.Name, "failures", ss.s.failures)
		return nil, "", wire.Errf(wire.CodeUnauthorized, "wrong password; the next try waits %s", d)
	}
	ss.s.loginOK()
	ss.loggedIn = true
	ss.s.event(EventSession, map[string]any{"state": "login", "port": ss.s.opts.Name})
	ss.s.log.Info("console login", "port", ss.s.opts.Name)
	idle := time.Duration(ss.access().IdleS) * time.Second
	return map[string]bool{"logged_in": true},
		fmt.Sprintf("logged in: changes are allowed until `logout` or %s without input\n", idle), nil
}

// testResult runs one technician test and renders its result.
func testResult(part string, f func() (TestReport, error)) (any, string, *wire.Error) {
	rep, err := f()
	if err != nil {
		e := errorOf(err)
		return nil, "", e
	}
	var b strings.Builder
	fmt.Fprintf(&b, "ok: %s: %s\n", part, safe(rep.Detail))
	if len(rep.Values) > 0 {
		renderResult(&b, mustJSON(rep.Values))
	}
	return rep, b.String(), nil
}

// errorOf turns a Backend error into an ack error.
func errorOf(err error) *wire.Error {
	var we *wire.Error
	switch {
	case errors.As(err, &we):
		return we
	case errors.Is(err, hal.ErrAbsent):
		return wire.Errf(wire.CodeUnsupported, "%v", err)
	case errors.Is(err, context.Canceled):
		return wire.Errf(wire.CodeInternal, "the console is closing")
	}
	return wire.Errf(wire.CodeInternal, "%v", err)
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
