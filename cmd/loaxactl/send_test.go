package main

import (
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/loaxa/loaxa/agent/wire"
)

func TestSendPrintsAckAndExitStatus(t *testing.T) {
	h := newHarness(t)
	h.device("pole-ok", nil, okWith(`{"version":"1.0","uptime_s":42}`))
	h.device("pole-bad", nil, failWith(wire.CodeBadArgs, "level must be 0..100, got 140"))
	h.device("pole-bare", nil, okWith(""))

	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
	}{
		{"ok with result", []string{"send", "pole-ok", "ping"}, ExitOK,
			"pole-ok: ping ok\n{\n  \"version\": \"1.0\",\n  \"uptime_s\": 42\n}\n"},
		{"ok without result", []string{"send", "pole-bare", "zones", `{"all":true}`}, ExitOK,
			"pole-bare: zones ok\n"},
		{"not ok", []string{"send", "pole-bad", "volume", `{"level":140}`}, ExitFailed,
			"pole-bad: volume failed: bad_args: level must be 0..100, got 140\n"},
		{"json prints the raw ack", []string{"--json", "send", "pole-bad", "volume", `{"level":140}`}, ExitFailed,
			`{"id":"c-1","cmd":"volume","ok":false,"error":{"code":"bad_args","message":"level must be 0..100, got 140"},"ts":1764064800000}` + "\n"},
		{"flags after the arguments", []string{"send", "pole-ok", "ping", "--json"}, ExitOK,
			`{"id":"c-1","cmd":"ping","ok":true,"result":{"version":"1.0","uptime_s":42},"ts":1764064800000}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := h.run(tt.args...)
			if code != tt.wantCode || stdout != tt.wantStdout {
				t.Errorf("loaxactl %s\n= %d, stdout:\n%s\nwant %d, stdout:\n%s\nstderr:\n%s",
					strings.Join(tt.args, " "), code, stdout, tt.wantCode, tt.wantStdout, stderr)
			}
		})
	}
}

// What goes on the wire is what the contract says: the fields, QoS 1, not
// retained (a retained command would be refused by every pole).
func TestSendPublishesTheCommand(t *testing.T) {
	h := newHarness(t)
	d := h.device("pole-1", nil, okWith(""))

	if code, _, stderr := h.run("send", "--ttl", "5s", "pole-1", "zones", `{ "on": ["z1", "z2"] }`); code != ExitOK {
		t.Fatalf("exit %d, stderr: %s", code, stderr)
	}
	m := d.next(t)
	want := `{"id":"c-1","cmd":"zones","args":{"on":["z1","z2"]},"ts":1764064800000,"ttl":5000}`
	if m.Topic != "loaxa/v1/dev/pole-1/cmd" || string(m.Payload) != want || m.Retained || m.QoS != 1 {
		t.Errorf("published %v (qos %d), want %s on loaxa/v1/dev/pole-1/cmd, qos 1, not retained", m, m.QoS, want)
	}

	if code, _, stderr := h.run("send", "--ttl", "0", "pole-1", "ping"); code != ExitOK {
		t.Fatalf("exit %d, stderr: %s", code, stderr)
	}
	if m := d.next(t); string(m.Payload) != `{"id":"c-1","cmd":"ping","ts":1764064800000}` {
		t.Errorf("with --ttl 0 and no args published %s, want no ttl and no args", m.Payload)
	}
}

// A pole with a command key checks "auth" over the exact bytes of args it
// received; HTML-ish characters are where a re-encoding would differ.
func TestSendSignsThePublishedBytes(t *testing.T) {
	key := strings.Repeat("5a", 32)
	keyBytes, _ := hex.DecodeString(key)
	tests := []struct {
		name string
		env  bool
		args []string
	}{
		{"key from --key", false, []string{"--key", key, "send", "pole-1", "play", `{"source":"tone:440", "origin":"<province> & co"}`}},
		{"key from $LOAXA_KEY", true, []string{"send", "pole-1", "ping"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			if tt.env {
				h.env[EnvKey] = key
			}
			var verified bool
			d := h.device("pole-1", nil, func(c *wire.Command) wire.Ack {
				verified = c.Auth != "" && wire.Verify(keyBytes, "dev/pole-1", c, c.Auth)
				return wire.Ack{OK: verified}
			})
			code, _, stderr := h.run(tt.args...)
			m := d.next(t)
			if code != ExitOK || !verified {
				t.Fatalf("exit %d, signature verified %v; published %s\nstderr: %s", code, verified, m.Payload, stderr)
			}
			// Independently of wire.Decode: the signature covers the args
			// bytes exactly as they appear in the payload.
			var doc struct {
				ID   string          `json:"id"`
				Cmd  string          `json:"cmd"`
				Args json.RawMessage `json:"args"`
				TS   int64           `json:"ts"`
				Auth string          `json:"auth"`
			}
			if err := json.Unmarshal(m.Payload, &doc); err != nil {
				t.Fatal(err)
			}
			if want := wire.Sign(keyBytes, "dev/pole-1", doc.ID, doc.Cmd, doc.TS, doc.Args); doc.Auth != want {
				t.Errorf("auth = %s, want %s over args %s", doc.Auth, want, doc.Args)
			}
		})
	}
}

func TestSendTimesOut(t *testing.T) {
	h := newHarness(t)
	d := h.device("pole-1", nil, nil) // silent

	r := h.start("send", "pole-1", "ping")
	d.next(t)
	h.armed()
	h.clk.Advance(DefaultTimeout)
	code, stdout, stderr := r.wait()
	wantErr := "loaxactl: no ack from pole-1 within 10s: is it online? try `loaxactl watch pole-1`\n"
	if code != ExitTimeout || stdout != "" || stderr != wantErr {
		t.Errorf("= %d, stdout %q, stderr %q; want %d and %q", code, stdout, stderr, ExitTimeout, wantErr)
	}
}

func TestSendTimeoutFlag(t *testing.T) {
	h := newHarness(t)
	h.device("pole-1", nil, nil)

	r := h.start("send", "--timeout", "2m", "pole-1", "ping")
	h.armed()
	h.clk.Advance(DefaultTimeout) // the default passes; --timeout has not
	h.clk.Advance(2*time.Minute - DefaultTimeout)
	code, _, stderr := r.wait()
	if code != ExitTimeout || !strings.Contains(stderr, "within 2m0s") {
		t.Errorf("= %d, stderr %q; want %d naming 2m0s", code, stderr, ExitTimeout)
	}
}

func TestSendInterrupted(t *testing.T) {
	h := newHarness(t)
	h.device("pole-1", nil, nil)

	r := h.start("send", "pole-1", "ping")
	h.armed()
	r.cancel()
	if code, _, stderr := r.wait(); code != ExitInterrupted || !strings.Contains(stderr, "interrupted") {
		t.Errorf("= %d, stderr %q; want %d and a word that it was interrupted", code, stderr, ExitInterrupted)
	}
}

func TestSendIgnoresOtherAcks(t *testing.T) {
	h := newHarness(t)
	h.device("pole-1", nil, nil)
	// Another operator's ack on the same device must not be taken as ours.
	r := h.start("send", "pole-1", "ping")
	h.armed()
	other := wire.Topics{Root: root, ID: "pole-1"}.Ack()
	pub := newPublisher(t, h)
	pub(other, false, `{"id":"c-other","cmd":"ping","ok":false,"error":{"code":"internal","message":"x"},"ts":1}`)
	pub(other, false, `not json`)
	pub(other, false, `{"id":"c-1","cmd":"ping","ok":true,"ts":2}`)
	code, stdout, stderr := r.wait()
	if code != ExitOK || stdout != "pole-1: ping ok\n" {
		t.Errorf("= %d, stdout %q, stderr %q; want 0 and our ack only", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "ignoring ack from pole-1 is not valid JSON") {
		t.Errorf("stderr %q does not report the junk ack", stderr)
	}
}

func TestSendBrokerUnreachable(t *testing.T) {
	h := newHarness(t)
	h.env[EnvBroker] = "tcp://user:s3cret@127.0.0.1:1"
	code, _, stderr := h.run("send", "pole-1", "ping")
	if code != ExitUnavailable || !strings.Contains(stderr, "connect to tcp://REDACTED@127.0.0.1:1") {
		t.Errorf("= %d, stderr %q; want %d and the broker named", code, stderr, ExitUnavailable)
	}
	if strings.Contains(stderr, "s3cret") {
		t.Errorf("stderr shows the password: %q", stderr)
	}
}
