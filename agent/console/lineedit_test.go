package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestEditor(t *testing.T) {
	type out struct {
		kind lineKind
		text string
	}
	tests := []struct {
		name  string
		in    string
		lines []out
		echo  string
	}{
		{"CR", "ping\r", []out{{lineOK, "ping"}}, "ping\r\n"},
		{"LF", "ping\n", []out{{lineOK, "ping"}}, "ping\r\n"},
		{"CRLF is one line end", "ping\r\nstatus\r\n", []out{{lineOK, "ping"}, {lineOK, "status"}}, "ping\r\nstatus\r\n"},
		{"LFCR is two", "a\n\r", []out{{lineOK, "a"}, {lineOK, ""}}, "a\r\n\r\n"},
		{"empty line", "\r", []out{{lineOK, ""}}, "\r\n"},
		{"backspace and DEL", "pinx\bg\x7f\x7fng\r", []out{{lineOK, "ping"}}, "pinx\b \bg\b \b\b \bng\r\n"},
		{"backspace on empty line", "\b\x7fok\r", []out{{lineOK, "ok"}}, "ok\r\n"},
		{"backspace erases a whole UTF-8 character", "loa xã\bx\r", []out{{lineOK, "loa xx"}}, "loa xã\b \bx\r\n"},
		{"Ctrl-U kills the line", "zones on\x15ping\r", []out{{lineOK, "ping"}}, "zones on" + strings.Repeat("\b \b", 8) + "ping\r\n"},
		{"Ctrl-C cancels", "zones on z1\x03", []out{{lineInterrupt, ""}}, "zones on z1^C\r\n"},
		{"arrow keys are ignored", "pi\x1b[A\x1b[1;5Cng\x1bOB\r", []out{{lineOK, "ping"}}, "ping\r\n"},
		{"tab is a space", "zones\ton\tz1\r", []out{{lineOK, "zones on z1"}}, "zones on z1\r\n"},
		{"XON XOFF Ctrl-D ignored", "pi\x11\x13\x04ng\r", []out{{lineOK, "ping"}}, "ping\r\n"},
		{"control bytes are noise", "pi\x00\x01ng\r", []out{{lineNoise, ""}}, "pi\r\n"},
		{"invalid UTF-8 is noise", "ping \xff\xfe\r", []out{{lineNoise, ""}}, "ping \xff\xfe\r\n"},
		{"JSON is not echoed", "{\"id\":\"1\"}\n", []out{{lineOK, `{"id":"1"}`}}, ""},
		{"login password is not echoed", "login hunter2-pass\r", []out{{lineOK, "login hunter2-pass"}}, "login \r\n"},
		{"config set secret is not echoed", "config set mqtt.password p4ss-word\r", []out{{lineOK, "config set mqtt.password p4ss-word"}}, "config set mqtt.password \r\n"},
		{"config.set secret is not echoed", "config.set auth.command_key 00ff\r", []out{{lineOK, "config.set auth.command_key 00ff"}}, "config.set auth.command_key \r\n"},
		{"config set plain value is echoed", "config set mqtt.broker tcp://h:1\r", []out{{lineOK, "config set mqtt.broker tcp://h:1"}}, "config set mqtt.broker tcp://h:1\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEditor(secretKey)
			// One byte at a time, as a person types, and all at once, as
			// a paste: the same lines either way.
			for _, chunked := range []bool{true, false} {
				e = newEditor(secretKey)
				var lines []line
				var echo []byte
				if chunked {
					for i := range len(tc.in) {
						l, ec := e.feed([]byte{tc.in[i]})
						lines, echo = append(lines, l...), append(echo, ec...)
					}
				} else {
					lines, echo = e.feed([]byte(tc.in))
				}
				var got []out
				for _, l := range lines {
					got = append(got, out{l.kind, l.text})
				}
				if fmt.Sprint(got) != fmt.Sprint(tc.lines) {
					t.Errorf("chunked=%v: lines = %v; want %v", chunked, got, tc.lines)
				}
				if string(echo) != tc.echo {
					t.Errorf("chunked=%v: echo = %q; want %q", chunked, echo, tc.echo)
				}
			}
		})
	}
}

func TestEditorHiddenLine(t *testing.T) {
	e := newEditor(secretKey)
	e.hideNext()
	lines, echo := e.feed([]byte("my password\rping\r"))
	if len(lines) != 2 || lines[0].text != "my password" || lines[1].text != "ping" {
		t.Fatalf("lines = %+v", lines)
	}
	if string(echo) != "\r\nping\r\n" {
		t.Errorf("echo = %q; want only the line end of the hidden line", echo)
	}
}

func TestEditorLimits(t *testing.T) {
	t.Run("100 KB human line", func(t *testing.T) {
		e := newEditor(secretKey)
		in := append(bytes.Repeat([]byte("a"), 100_000), '\r')
		lines, echo := e.feed(append(in, "ping\r"...))
		if len(lines) != 2 || lines[0].kind != lineTooLong || lines[0].size != 100_000 || lines[1].text != "ping" {
			t.Fatalf("lines = %v", summary(lines))
		}
		if len(echo) > MaxHumanLine+100 {
			t.Errorf("echoed %d bytes; the echo stops at the limit", len(echo))
		}
		if cap(e.buf) > MaxJSONLine {
			t.Errorf("the editor kept a %d-byte buffer", cap(e.buf))
		}
	})
	t.Run("JSON document up to 64 KiB", func(t *testing.T) {
		e := newEditor(secretKey)
		doc := `{"id":"1","cmd":"provision","args":{"pad":"` + strings.Repeat("x", MaxJSONLine-60) + `"}}`
		lines, _ := e.feed([]byte(doc + "\n"))
		if len(lines) != 1 || lines[0].kind != lineOK || !json.Valid([]byte(lines[0].text)) {
			t.Fatalf("a %d-byte document: %v", len(doc), summary(lines))
		}
	})
	t.Run("JSON document over 64 KiB", func(t *testing.T) {
		e := newEditor(secretKey)
		doc := `{"pad":"` + strings.Repeat("x", 100_000) + `"}`
		lines, echo := e.feed([]byte(doc + "\n"))
		if len(lines) != 1 || lines[0].kind != lineTooLong || !lines[0].json {
			t.Fatalf("lines = %v", summary(lines))
		}
		if len(echo) != 0 {
			t.Errorf("echoed %d bytes of a JSON line", len(echo))
		}
	})
	t.Run("human line at the limit", func(t *testing.T) {
		e := newEditor(secretKey)
		lines, _ := e.feed([]byte(strings.Repeat("a", MaxHumanLine) + "\r" + strings.Repeat("a", MaxHumanLine+1) + "\r"))
		if len(lines) != 2 || lines[0].kind != lineOK || lines[1].kind != lineTooLong {
			t.Fatalf("lines = %v", summary(lines))
		}
	})
}

// FuzzEditor: no input panics, every line is bounded, and a clean line
// after any garbage is read intact.
func FuzzEditor(f *testing.F) {
	f.Add([]byte("ping\r\n"))
	f.Add([]byte("\x1b[A\x00\xff{\"id\":\r"))
	f.Add([]byte("login x\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x03"))
	f.Fuzz(func(t *testing.T, in []byte) {
		e := newEditor(secretKey)
		lines, _ := e.feed(in)
		for _, l := range lines {
			if len(l.text) > MaxJSONLine {
				t.Fatalf("a %d-byte line passed", len(l.text))
			}
		}
		// A Ctrl-C ends whatever was pending, then a clean line reads.
		lines, _ = e.feed([]byte("\x03ping\r"))
		if last := lines[len(lines)-1]; last.kind != lineOK || last.text != "ping" {
			t.Fatalf("after %q: last line %+v", in, last)
		}
	})
}

func TestEditorRandomNoise(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	e := newEditor(secretKey)
	noise := make([]byte, 1<<20)
	for i := range noise {
		noise[i] = byte(rng.IntN(256))
	}
	lines, _ := e.feed(noise)
	for _, l := range lines {
		if l.kind == lineOK && !utfValid(l.text) {
			t.Fatalf("an invalid line passed: %q", l.text)
		}
	}
	lines, _ = e.feed([]byte("\x03ping\r"))
	if last := lines[len(lines)-1]; last.text != "ping" {
		t.Fatalf("after 1 MiB of noise: %+v", last)
	}
}

func utfValid(s string) bool { return strings.ToValidUTF8(s, "?") == s }

func summary(ls []line) string {
	var b strings.Builder
	for _, l := range ls {
		fmt.Fprintf(&b, "{kind %d, %d bytes, json %v, text %.20q} ", l.kind, l.size, l.json, l.text)
	}
	return b.String()
}
