package main

import (
	"context"
	"strings"
	"testing"
)

// Usage errors are found before any connection: the broker here does not
// exist, so a test that reached it would exit 4, not 2.
func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"no command", nil, "usage: loaxactl"},
		{"unknown command", []string{"sned", "pole-1", "ping"}, `unknown command "sned": expected send, watch, live or release`},
		{"send without command", []string{"send", "pole-1"}, "send takes DEVICE CMD [JSON-ARGS], got 1 argument(s)"},
		{"send with too many", []string{"send", "pole-1", "volume", `{"level":1}`, "x"}, "got 4 argument(s)"},
		{"bad device id", []string{"send", "Pole_1", "ping"}, `device id "Pole_1": expected 3-64 characters`},
		{"args an array", []string{"send", "pole-1", "zones", `["z1"]`}, `JSON-ARGS must be a JSON object such as '{"level":60}', got ["z1"]`},
		{"args a number", []string{"send", "pole-1", "volume", "60"}, "JSON-ARGS must be a JSON object"},
		{"args not JSON", []string{"send", "pole-1", "volume", "{level:60}"}, "JSON-ARGS is not valid JSON"},
		{"args with trailing text", []string{"send", "pole-1", "volume", `{"level":60} {}`}, "text after the JSON object"},
		{"args with a stray bracket", []string{"send", "pole-1", "volume", `{"level":60}]`}, "text after the JSON object"},
		{"args empty", []string{"send", "pole-1", "volume", ``}, "JSON-ARGS is not valid JSON"},
		{"args null", []string{"send", "pole-1", "volume", `null`}, "JSON-ARGS must be a JSON object"},
		{"args too large", []string{"send", "pole-1", "x", `{"a":"` + strings.Repeat("a", 70000) + `"}`}, "poles accept at most 65536"},
		{"bad group", []string{"send", "--group", "North", "ping"}, `group "North"`},
		{"group with a device", []string{"send", "--group", "north", "pole-1", "volume", "{}", "x"}, "send --group takes CMD [JSON-ARGS]"},
		{"watch with group", []string{"watch", "--group", "north"}, "--group is for send"},
		{"watch two devices", []string{"watch", "pole-1", "pole-2"}, "watch takes at most one DEVICE"},
		{"watch bad device", []string{"watch", "pole/1"}, `device id "pole/1"`},
		{"unknown flag", []string{"--brokr", "x", "send", "pole-1", "ping"}, "flag provided but not defined: -brokr"},
		{"negative timeout", []string{"--timeout", "-1s", "send", "pole-1", "ping"}, "--timeout must be positive"},
		{"negative ttl", []string{"--ttl", "-1s", "send", "pole-1", "ping"}, "--ttl must not be negative"},
		{"bad root", []string{"--root", "loaxa/#", "send", "pole-1", "ping"}, "--root: topic root \"loaxa/#\" contains an MQTT wildcard"},
		{"bad scheme", []string{"--broker", "http://h:1", "send", "pole-1", "ping"}, "is not tcp, mqtt, tls, ssl or mqtts"},
		{"no host", []string{"--broker", "localhost", "send", "pole-1", "ping"}, "expected tcp://HOST:PORT"},
		{"ca with tcp", []string{"--ca", "ca.pem", "send", "pole-1", "ping"}, "need a tls:// or ssl:// broker"},
		{"cert without key", []string{"--broker", "tls://h:8883", "--cert", "c.pem", "send", "pole-1", "ping"}, "--cert and --cert-key go together"},
		{"missing ca file", []string{"--broker", "tls://h:8883", "--ca", "/nonexistent.pem", "send", "pole-1", "ping"}, "--ca: open /nonexistent.pem"},
		{"short key", []string{"--key", "abcd", "send", "pole-1", "ping"}, "--key: the key is 2 bytes; expected at least 16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr syncBuffer
			c := &CLI{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}
			code := c.Run(context.Background(), append([]string{"--broker", "tcp://127.0.0.1:1"}, tt.args...))
			if code != ExitUsage || !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("loaxactl %s\n= %d, stderr:\n%s\nwant %d and %q", strings.Join(tt.args, " "), code, stderr.String(), ExitUsage, tt.want)
			}
			if stdout.String() != "" {
				t.Errorf("a usage error wrote to stdout: %q", stdout.String())
			}
		})
	}
}

// Secrets come from the environment and appear nowhere in output, not even
// where flag defaults are listed, nor when they are wrong.
func TestSecretsAreNeverPrinted(t *testing.T) {
	const password, badKey = "pa55-w0rd", "zz-secret-key-zz"
	env := map[string]string{EnvPassword: password, EnvKey: badKey}
	for _, args := range [][]string{{"-h"}, {"help"}, {"send", "pole-1", "ping"}, {"--key", badKey, "send", "pole-1", "ping"}} {
		var stdout, stderr syncBuffer
		c := &CLI{Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return env[k] }}
		code := c.Run(context.Background(), args)
		out := stdout.String() + stderr.String()
		if strings.Contains(out, password) || strings.Contains(out, "secret") {
			t.Errorf("loaxactl %v printed a secret:\n%s", args, out)
		}
		if args[0] == "-h" || args[0] == "help" {
			if code != ExitOK || !strings.Contains(stdout.String(), "usage: loaxactl") {
				t.Errorf("loaxactl %v = %d, stdout %q; want 0 and usage", args, code, stdout.String())
			}
		} else if code != ExitUsage || !strings.Contains(stderr.String(), "the key must be hex digits") {
			t.Errorf("loaxactl %v = %d, stderr %q; want %d about the key", args, code, stderr.String(), ExitUsage)
		}
	}
}

func TestParseInterleaved(t *testing.T) {
	tests := []struct {
		args     []string
		wantPos  string
		wantJSON bool
	}{
		{[]string{"--json", "send", "a", "b"}, "send a b", true},
		{[]string{"send", "a", "--json", "b"}, "send a b", true},
		{[]string{"send", "a", "b"}, "send a b", false},
		{[]string{"send", "--", "a", "--json"}, "send a --json", false},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var o options
			fs := (&CLI{}).flags(&o)
			pos, err := parseInterleaved(fs, tt.args)
			if err != nil || strings.Join(pos, " ") != tt.wantPos || o.json != tt.wantJSON {
				t.Errorf("= %q, json %v, %v; want %q, json %v", pos, o.json, err, tt.wantPos, tt.wantJSON)
			}
		})
	}
}
