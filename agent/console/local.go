package console

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/hal"
)

// The commands the console answers itself (login, tests, provisioning,
// help) rather than the agent's handlers.

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
