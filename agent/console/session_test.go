package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/internal/clock"
)

// jsonAck waits for the next ack line and decodes it.
func (r *rig) jsonAck() Reply {
	r.t.Helper()
	r.expect(`{"id":`)
	line := `{"id":` + r.expect("\r\n")
	var rep Reply
	if err := json.Unmarshal([]byte(strings.TrimSpace(line)), &rep); err != nil {
		r.t.Fatalf("ack %q: %v", line, err)
	}
	return rep
}

// TestBothForms runs every command in its human form and its JSON form and
// checks that both reach the backend as the same command with the same
// arguments, which is the point of one grammar with MQTT.
func TestBothForms(t *testing.T) {
	remote := []struct {
		human, cmd, args string
	}{
		{"ping", "ping", ``},
		{"status", "status", ``},
		{"zones on z1 z2", "zones", `{"on":["z1","z2"]}`},
		{"zones off z1", "zones", `{"off":["z1"]}`},
		{"zones on z1 off z2", "zones", `{"off":["z2"],"on":["z1"]}`},
		{"zones all on", "zones", `{"all":true}`},
		{"zones all off", "zones", `{"all":false}`},
		{"volume 70", "volume", `{"level":70}`},
		{"play tone:440 3", "play", `{"duration_s":3,"source":"tone:440"}`},
		{"play file:news.mp3 priority=emergency zones=z1,z2 replace=true volume=90", "play",
			`{"priority":"emergency","replace":true,"source":"file:news.mp3","volume":90,"zones":["z1","z2"]}`},
		{"stop", "stop", ``},
		{"stop emergency", "stop", `{"priority":"emergency"}`},
		{"stop item=c-42", "stop", `{"item":"c-42"}`},
		{"config get", "config.get", ``},
		{"config get mqtt.broker tele_interval", "config.get", `{"keys":["mqtt.broker","tele_interval"]}`},
		{"config.get mqtt.broker", "config.get", `{"keys":["mqtt.broker"]}`},
		{"config set mqtt.broker tls://mqtt.example.vn:8883", "config.set", `{"values":{"mqtt.broker":"tls://mqtt.example.vn:8883"}}`},
		{"config set tele_interval 30", "config.set", `{"values":{"tele_interval":30}}`},
		{`config set groups ["hamlet-1", "hamlet-2"]`, "config.set", `{"values":{"groups":["hamlet-1", "hamlet-2"]}}`},
		{"restart", "restart", ``},
		{"reboot", "reboot", ``},
		{`log.get {"limit":5}`, "log.get", `{"limit":5}`},
	}
	for _, tc := range remote {
		t.Run(tc.human, func(t *testing.T) {
			r := newRig(t, nil)
			r.typ(tc.human + "\r")
			r.expect("\r\npole-1# ")
			var args json.RawMessage
			if tc.args != "" {
				args = json.RawMessage(tc.args)
			}
			doc, _ := json.Marshal(map[string]any{"id": "j-1", "cmd": tc.cmd, "args": args})
			r.typ(string(doc) + "\n")
			rep := r.jsonAck()
			if rep.ID != "j-1" || rep.Cmd != tc.cmd {
				t.Fatalf("JSON ack = %+v; want id j-1, cmd %s", rep, tc.cmd)
			}
			docs := r.be.Docs()
			if len(docs) != 2 {
				t.Fatalf("backend got %d documents, want 2 (human and JSON)", len(docs))
			}
			h, j := docs[0], docs[1]
			if h.Cmd != tc.cmd || j.Cmd != tc.cmd {
				t.Errorf("cmds = %q, %q; want %q", h.Cmd, j.Cmd, tc.cmd)
			}
			if !jsonEq(t, h.Args, j.Args) {
				t.Errorf("human form sent args %s, JSON form %s", h.Args, j.Args)
			}
			if !strings.HasPrefix(h.ID, "con-") {
				t.Errorf("human command id %q: want a con- id", h.ID)
			}
		})
	}

	local := []struct {
		human, cmd, args, call string
	}{
		{"test relay z1", "test.relay", `{"name":"z1"}`, "test relay z1"},
		{"test relay amp", "test.relay", `{"name":"amp"}`, "test relay amp"},
		{"test tone", "test.tone", ``, "test tone"},
		{"test modem", "test.modem", ``, "test modem"},
		{"test broker", "test.broker", ``, "test broker"},
		{`provision {"config":{"id":"pole-9"}}`, "provision", `{"config":{"id":"pole-9"}}`, "provision"},
		{"factory-reset YES", "factory-reset", `{"confirm":"YES"}`, "factory-reset"},
	}
	for _, tc := range local {
		t.Run(tc.human, func(t *testing.T) {
			r := newRig(t, nil)
			r.typ(tc.human + "\r")
			r.expect("ok")
			r.expect("# ")
			var args json.RawMessage
			if tc.args != "" {
				args = json.RawMessage(tc.args)
			}
			doc, _ := json.Marshal(map[string]any{"id": "j-1", "cmd": tc.cmd, "args": args})
			r.typ(string(doc) + "\n")
			if rep := r.jsonAck(); !rep.OK || rep.ID != "j-1" {
				t.Fatalf("JSON ack = %+v (%v); want ok", rep, rep.Err())
			}
			want := []string{tc.call, tc.call}
			if got := r.be.Calls(); !slices.Equal(got, want) {
				t.Errorf("backend calls = %q; want %q", got, want)
			}
		})
	}

	console := []struct{ human, cmd, args, want string }{
		{"help", "help", ``, "zones on Z"},
		{"help zones", "help", `{"cmd":"zones"}`, "usage: zones"},
		{"banner", "banner", ``, "866123456789012"},
		{"login", "login", `{"password":"whatever-it-is"}`, "no console password"},
		{"logout", "logout", ``, "logged"},
	}
	for _, tc := range console {
		t.Run(tc.human, func(t *testing.T) {
			r := newRig(t, nil)
			r.typ(tc.human + "\r")
			r.expect(tc.want)
			r.expect("# ")
			var args json.RawMessage
			if tc.args != "" {
				args = json.RawMessage(tc.args)
			}
			doc, _ := json.Marshal(map[string]any{"id": "j-1", "cmd": tc.cmd, "args": args})
			r.typ(string(doc) + "\n")
			rep := r.jsonAck()
			if !rep.OK {
				t.Fatalf("JSON ack = %+v (%v); want ok", rep, rep.Err())
			}
			if !strings.Contains(string(rep.Result), jsonQuote(tc.want)[1:len(jsonQuote(tc.want))-1]) && tc.cmd != "login" && tc.cmd != "logout" {
				t.Errorf("JSON result %s lacks %q", rep.Result, tc.want)
			}
		})
	}
}

func jsonQuote(s string) string { b, _ := json.Marshal(s); return string(b) }

func jsonEq(t *testing.T, a, b json.RawMessage) bool {
	t.Helper()
	norm := func(x json.RawMessage) string {
		if len(x) == 0 {
			return "{}"
		}
		var v any
		if err := json.Unmarshal(x, &v); err != nil {
			t.Fatalf("%s: %v", x, err)
		}
		out, _ := json.Marshal(v)
		return string(out)
	}
	return norm(a) == norm(b)
}

// TestHumanOutput shows acks as a person reads them.
func TestHumanOutput(t *testing.T) {
	tests := []struct{ line, want string }{
		{"volume 140", "error bad_args: level must be 0..100, got 140\r\n"},
		{"volume loud", "error bad_args: volume level \"loud\" is not a whole number; e.g. `volume 70`\r\n"},
		{"zones on z1", "ok\r\nzones: z1 on, z2 off\r\n"},
		{"zones z1", "error bad_args: zones on Z [Z...], zones off Z [Z...] or zones all on|off; \"z1\" comes before on or off\r\n"},
		{"ping", "ok\r\nuptime_s: 42\r\nversion: 1.2.3\r\n"},
		{"frobnicate", "error unknown_command: no command \"frobnicate\"; type `help` for the commands\r\n"},
		{"frob.nicate", "error unknown_command: unknown command \"frob.nicate\"\r\n"},
		{"Xyz!", "error unknown_command: no command \"Xyz!\"; type `help` for the commands\r\n"},
		{"test", "error bad_args: test what? Type `help` for the commands\r\n"},
		{"ping now", "error bad_args: ping takes no arguments\r\n"},
		{"test modem", "ok: modem: modem worked\r\npart: modem\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.line, func(t *testing.T) {
			r := newRig(t, nil)
			r.typ(tc.line + "\r")
			r.expect(tc.line + "\r\n") // the echo
			got := r.expect("pole-1# ")
			if got != tc.want+"pole-1# " {
				t.Errorf("output:\n%q\nwant:\n%q", got, tc.want+"pole-1# ")
			}
		})
	}
}

func TestStatusShowsBanner(t *testing.T) {
	r := newRig(t, nil)
	r.typ("status\r")
	out := r.expect("pole-1# ")
	for _, want := range []string{"loaxa pole pole-1, firmware 1.2.3", "IMEI 866123456789012, ICCID 8984041234567890123",
		"broker:  tcp://127.0.0.1:1883, not connected", "zones:   z1 off, z2 off", "alarms:  none", "ok\r\n", "volume: 50"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
}

// TestPasswordGuardsChanges: once a password is set, reading works without
// login, changing needs it, in both forms; the password is never echoed.
func TestPasswordGuardsChanges(t *testing.T) {
	be := newFakeBackend()
	be.access = Access{PasswordHash: testHash, Idle: 10 * time.Minute}
	r := newRig(t, be)
	r.expect("")
	if !strings.Contains(r.out.String(), "read-only; type `login`") || !strings.HasSuffix(r.out.String(), "pole-1> ") {
		t.Fatalf("banner of a locked board:\n%s", r.out.String())
	}
	r.typ("ping\r")
	r.expect("ok")
	r.typ("config get mqtt.broker\r")
	r.expect("values.mqtt.broker: tcp://127.0.0.1:1883")
	r.typ("zones on z1\r")
	r.expect("error unauthorized: zones changes the pole: log in first")
	r.typ(`{"id":"j-1","cmd":"volume","args":{"level":10}}` + "\n")
	if rep := r.jsonAck(); rep.OK || rep.Error.Code != wire.CodeUnauthorized {
		t.Fatalf("JSON volume without login: %+v; want unauthorized", rep)
	}
	r.typ("factory-reset\r")
	r.expect("error unauthorized")
	for _, c := range r.be.Calls() {
		if c != "do ping" && c != "do config.get" {
			t.Fatalf("backend was called for %q without login", c)
		}
	}

	r.login()
	if strings.Contains(r.out.String(), testPassword) {
		t.Fatalf("the password was echoed:\n%s", r.out.String())
	}
	r.typ("zones on z1\r")
	r.expect("zones: z1 on")
	r.typ("logout\r")
	r.expect("logged out")
	r.expect("pole-1> ")
	r.typ("zones off z1\r")
	r.expect("error unauthorized")

	// JSON login, for tools.
	r.typ(fmt.Sprintf(`{"id":"j-2","cmd":"login","args":{"password":%q}}`+"\n", testPassword))
	if rep := r.jsonAck(); !rep.OK {
		t.Fatalf("JSON login: %v", rep.Err())
	}
	r.typ(`{"id":"j-3","cmd":"volume","args":{"level":10}}` + "\n")
	if rep := r.jsonAck(); !rep.OK {
		t.Fatalf("volume after JSON login: %v", rep.Err())
	}
	if strings.Contains(r.out.String(), testPassword) {
		t.Fatalf("the password was echoed:\n%s", r.out.String())
	}
	for _, ev := range r.ev.all() {
		if strings.Contains(fmt.Sprint(ev.Data), testPassword) {
			t.Fatalf("event %v carries the password", ev)
		}
	}
	if n := len(r.ev.find(EventSession, map[string]any{"state": "login"})); n != 2 {
		t.Errorf("%d login events, want 2", n)
	}
	if n := len(r.ev.find(EventCommand, map[string]any{"cmd": "zones", "ok": false, "code": "unauthorized"})); n != 2 {
		t.Errorf("%d refused zones events, want 2", n)
	}
}

// TestWrongPasswordsWaitLonger drives the growing delay with the fake clock.
func TestWrongPasswordsWaitLonger(t *testing.T) {
	be := newFakeBackend()
	be.access = Access{PasswordHash: testHash}
	r := newRig(t, be)
	for i, wait := range []string{"1s", "2s", "4s", "8s"} {
		r.typ("login wrong-password\r")
		r.expect("error unauthorized: wrong password; the next try waits " + wait + "\r\n")
		// At once again: refused without even checking.
		r.typ("login " + testPassword + "\r")
		r.expect("error unauthorized: too many wrong passwords; try again in " + wait + "\r\n")
		r.typ("login\r")
		r.expect("error unauthorized: too many wrong passwords; try again in " + wait)
		d, _ := time.ParseDuration(wait)
		r.clk.Advance(d)
		if got := len(r.ev.find(EventSession, map[string]any{"state": "login_failed"})); got != i+1 {
			t.Fatalf("%d login_failed events, want %d", got, i+1)
		}
	}
	r.login()
	// Success resets the delay.
	r.typ("logout\r")
	r.typ("login wrong-password\r")
	r.expect("the next try waits 1s")
	ev := r.ev.find(EventSession, map[string]any{"state": "login_failed"})
	if last := ev[len(ev)-1].Data; last["failures"] != 1 || last["retry_in_s"] != 1 {
		t.Errorf("login_failed event after a success = %v; want failures 1, retry_in_s 1", last)
	}
}

func TestRateLimitCaps(t *testing.T) {
	s := &Server{clk: clock.NewFake(t0)}
	var got []time.Duration
	for range 12 {
		got = append(got, s.loginFailed())
	}
	if got[0] != time.Second || got[8] != 256*time.Second || got[9] != loginMaxDelay || got[11] != loginMaxDelay {
		t.Errorf("delays = %v; want 1s doubling to %v", got, loginMaxDelay)
	}
}

// TestIdleLogout: an idle session logs out after console.idle_s.
func TestIdleLogout(t *testing.T) {
	be := newFakeBackend()
	be.access = Access{PasswordHash: testHash, Idle: 5 * time.Minute}
	r := newRig(t, be)
	r.login()
	r.clk.Advance(5*time.Minute - time.Second)
	r.typ("zones on z2\r")
	r.expect("zones: z1 off, z2 on")
	r.expect("# ")
	r.clk.Advance(5*time.Minute - time.Second) // input restarted the timer
	r.typ("zones off z2\r")
	r.expect("z2 off")
	r.expect("# ")
	r.clk.Advance(5 * time.Minute)
	r.expect("session ended after 5m0s without input; logged out\r\npole-1> ")
	r.typ("zones on z1\r")
	r.expect("loaxa pole pole-1") // a new session shows the banner again
	r.expect("error unauthorized")
	if n := len(r.ev.find(EventSession, map[string]any{"state": "logout", "reason": "idle"})); n != 1 {
		t.Errorf("%d idle logout events, want 1", n)
	}
	if n := len(r.ev.find(EventSession, map[string]any{"state": "end", "reason": "idle"})); n != 1 {
		t.Errorf("%d idle session-end events, want 1", n)
	}
	if n := len(r.ev.find(EventSession, map[string]any{"state": "start"})); n != 2 {
		t.Errorf("%d session starts, want 2", n)
	}
}

func TestBlankBoardAllowsEverything(t *testing.T) {
	r := newRig(t, nil)
	if !strings.Contains(r.out.String(), "no password set (blank board)") {
		t.Fatalf("banner:\n%s", r.out.String())
	}
	r.typ("login\r")
	r.expect("no console password is set on this board: every command is allowed")
	r.typ("volume 30\r")
	r.expect("volume: 30")
}

// TestSecretsNeverEchoed: secret values are not echoed, are sent to the
// backend (hashed for the console password), and events carry key names
// only.
func TestSecretsNeverEchoed(t *testing.T) {
	r := newRig(t, nil)
	r.typ("config set mqtt.password 90817263\r")
	r.expect("ok")
	r.typ("config set console.password s3cret-pass\r")
	r.expect("ok")
	r.typ(`{"id":"j","cmd":"config.set","args":{"values":{"console":{"password":"other-pass-1"}}}}` + "\n")
	r.jsonAck()
	out := r.out.String()
	for _, secret := range []string{"90817263", "s3cret-pass", "other-pass-1"} {
		if strings.Contains(out, secret) {
			t.Errorf("%q was echoed or shown:\n%s", secret, out)
		}
		for _, ev := range r.ev.all() {
			if strings.Contains(fmt.Sprint(ev.Data), secret) {
				t.Errorf("event %v carries %q", ev, secret)
			}
		}
	}
	if !strings.Contains(out, "config set mqtt.password \r\n") {
		t.Errorf("the key should be echoed, not the value:\n%q", out)
	}
	docs := r.be.Docs()
	var v struct {
		Values map[string]json.RawMessage `json:"values"`
	}
	json.Unmarshal(docs[0].Args, &v)
	if string(v.Values["mqtt.password"]) != `"90817263"` {
		t.Errorf("mqtt.password sent as %s; want the string \"90817263\" (a secret is text unless quoted)", v.Values["mqtt.password"])
	}
	json.Unmarshal(docs[1].Args, &v)
	var h string
	json.Unmarshal(v.Values["console.password"], &h)
	if !VerifyPassword(h, "s3cret-pass") {
		t.Errorf("console.password sent as %q; want a hash of the password", h)
	}
	var nested struct {
		Values struct {
			Console struct{ Password string } `json:"console"`
		} `json:"values"`
	}
	json.Unmarshal(docs[2].Args, &nested)
	if !VerifyPassword(nested.Values.Console.Password, "other-pass-1") {
		t.Errorf("console.password in a table sent as %q; want a hash", nested.Values.Console.Password)
	}
	if ev := r.ev.find(EventCommand, map[string]any{"cmd": "config.set"}); len(ev) != 3 || fmt.Sprint(ev[0].Data["keys"]) != "[mqtt.password]" {
		t.Errorf("config.set events = %v; want 3 with keys only", ev)
	}
	r.typ("config set console.password short\r")
	r.expect("error bad_args: key console.password: the password must have at least 8 characters")
}

// TestTerminalThatDoesNotRead: a terminal that never reads (a USB gadget
// with no host, a hung laptop) cannot stall the console: output beyond the
// bound is dropped, commands still run, and Close still returns.
func TestTerminalThatDoesNotRead(t *testing.T) {
	be := newFakeBackend()
	clk := clock.NewFake(t0)
	toBoard, fromTech := io.Pipe()
	_, toTech := io.Pipe() // nobody ever reads what the board writes
	board := &pipePort{r: toBoard, w: toTech}
	once := false
	srv, err := New(Options{Backend: be, Clock: clk, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Open: func(ctx context.Context) (io.ReadWriteCloser, error) {
			if once {
				return nil, errors.New("once")
			}
			once = true
			return board, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	for range 100 {
		fromTech.Write([]byte("help\r")) // about 2 KB of output each
	}
	fromTech.Write([]byte("ping\r"))
	waitFor(t, "the ping to run", func() bool { return slices.Contains(be.Calls(), "do ping") })
	closed := make(chan struct{})
	go func() {
		srv.Close()
		close(closed)
	}()
	for done := false; !done; {
		select {
		case <-closed:
			done = true
		case <-time.After(2 * time.Millisecond):
			clk.Advance(flushTimeout) // the bounded flush gives up
		}
	}
	fromTech.Close()
}
