package console

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loaxa/loaxa/agent/wire"
)

// testPair makes a self-signed certificate and its key, as PEM.
func testPair(t *testing.T, cn string) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: t0, NotAfter: t0.Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
}

// TestInvalidProvisioningChangesNothing: every malformed document is
// refused with a message naming what is wrong, and the backend is never
// asked to provision.
func TestInvalidProvisioningChangesNothing(t *testing.T) {
	cert, key := testPair(t, "pole-1")
	otherCert, _ := testPair(t, "pole-2")
	doc := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	tests := []struct{ name, args, want string }{
		{"not an object", `[1,2]`, `"args" must be an object`},
		{"no config", `{}`, `"config" must be the whole configuration`},
		{"config not an object", `{"config":"pole-1"}`, `"config" must be the whole configuration`},
		{"no id", `{"config":{"mqtt":{"broker":"tcp://h:1883"}}}`, "config.id must be the pole's device id"},
		{"bad id", `{"config":{"id":"Pole_1"}}`, "config.id must be the pole's device id"},
		{"unknown field", `{"config":{"id":"pole-1"},"extra":1}`, `unknown field "extra"`},
		{"short console password", `{"config":{"id":"pole-1","console":{"password":"short"}}}`, "at least 8 characters"},
		{"weak hash", `{"config":{"id":"pole-1","console":{"password":"$pbkdf2-sha256$i=10$c2FsdHNhbHQ$` + strings.Repeat("A", 43) + `"}}}`, "10 iterations"},
		{"unknown file", doc(map[string]any{"config": map[string]any{"id": "pole-1"}, "files": map[string]string{"hardware.amp": cert}}), `"hardware.amp" cannot be installed`},
		{"cert not PEM", doc(map[string]any{"config": map[string]any{"id": "pole-1"}, "files": map[string]string{"mqtt.ca_file": "hello"}}), "files.mqtt.ca_file: not a PEM document"},
		{"key as cert", doc(map[string]any{"config": map[string]any{"id": "pole-1"}, "files": map[string]string{"mqtt.ca_file": key}}), `type "PRIVATE KEY"; expected CERTIFICATE`},
		{"cert as key", doc(map[string]any{"config": map[string]any{"id": "pole-1"}, "files": map[string]string{"mqtt.cert_file": cert, "mqtt.key_file": cert}}), "expected a private key"},
		{"cert without key", doc(map[string]any{"config": map[string]any{"id": "pole-1"}, "files": map[string]string{"mqtt.cert_file": cert}}), "go together"},
		{"key of another cert", doc(map[string]any{"config": map[string]any{"id": "pole-1"}, "files": map[string]string{"mqtt.cert_file": otherCert, "mqtt.key_file": key}}), "do not belong together"},
		{"huge file", doc(map[string]any{"config": map[string]any{"id": "pole-1"}, "files": map[string]string{"mqtt.ca_file": strings.Repeat("A", MaxFileSize+1)}}), "at most 16384"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, nil)
			r.typ(`{"id":"p","cmd":"provision","args":` + tc.args + "}\n")
			rep := r.jsonAck()
			if rep.OK || (rep.Error.Code != wire.CodeBadArgs && rep.Error.Code != wire.CodeBadRequest) || !strings.Contains(rep.Error.Message, tc.want) {
				t.Errorf("ack = %+v; want bad_args containing %q", rep.Error, tc.want)
			}
			if strings.Contains(r.out.String(), "BEGIN PRIVATE KEY") || strings.Contains(rep.Error.Message, "MIG") {
				t.Errorf("a key was echoed or quoted: %s", rep.Error.Message)
			}
			if calls := r.be.Calls(); len(calls) != 0 {
				t.Errorf("backend calls = %q; want none", calls)
			}
		})
	}

	t.Run("backend refuses", func(t *testing.T) {
		be := newFakeBackend()
		be.provErr = wire.Errf(wire.CodeBadArgs, "key mqtt.broker: no port")
		r := newRig(t, be)
		r.typ(`provision {"config":{"id":"pole-7","mqtt":{"broker":"tcp://h"}}}` + "\r")
		r.expect("error bad_args: key mqtt.broker: no port")
		if len(be.provs) != 0 {
			t.Errorf("a refused provisioning was recorded")
		}
	})
	t.Run("backend fails", func(t *testing.T) {
		be := newFakeBackend()
		be.provErr = errors.New("disk full")
		r := newRig(t, be)
		r.typ(`{"id":"p","cmd":"provision","args":{"config":{"id":"pole-7"}}}` + "\n")
		if rep := r.jsonAck(); rep.Error == nil || rep.Error.Code != wire.CodeInternal || rep.Error.Message != "disk full" {
			t.Errorf("ack = %+v; want internal: disk full", rep)
		}
	})
}

func TestProvisioning(t *testing.T) {
	cert, key := testPair(t, "pole-7")
	be := newFakeBackend()
	r := newRig(t, be)
	args, _ := json.Marshal(map[string]any{
		"config": map[string]any{"id": "pole-7", "mqtt": map[string]any{"broker": "tls://mqtt.example.vn:8883"},
			"console": map[string]any{"password": "new-console-pass", "idle_s": 300}},
		"files": map[string]string{"mqtt.ca_file": cert, "mqtt.cert_file": cert, "mqtt.key_file": key},
	})
	r.typ("provision " + string(args) + "\r")
	out := r.expect("ok: pole pole-7 provisioned; 2 key(s) changed: id, mqtt.broker")
	r.expect("pole-7> ") // the prompt follows the new id; a password is now set
	if strings.Contains(out, "new-console-pass") || strings.Contains(out, "BEGIN") {
		t.Errorf("the provisioning line was echoed:\n%s", out)
	}
	if len(be.provs) != 1 {
		t.Fatalf("%d provisionings", len(be.provs))
	}
	p := be.provs[0]
	var cfg struct {
		Console struct {
			Password string `json:"password"`
			IdleS    int    `json:"idle_s"`
		} `json:"console"`
	}
	if err := json.Unmarshal(p.Config, &cfg); err != nil {
		t.Fatal(err)
	}
	if !VerifyPassword(cfg.Console.Password, "new-console-pass") || cfg.Console.IdleS != 300 {
		t.Errorf("console section reached the backend as %+v; want the password hashed and idle_s kept", cfg.Console)
	}
	if string(p.Files["mqtt.key_file"]) != key || len(p.Files) != 3 {
		t.Errorf("files = %v", slices.Sorted(mapKeys(p.Files)))
	}
	ev := r.ev.find(EventCommand, map[string]any{"cmd": "provision", "ok": true})
	if len(ev) != 1 || strings.Contains(strings.ToLower(jsonString(ev[0].Data)), "pass") && !strings.Contains(jsonString(ev[0].Data), `"console"`) {
		t.Errorf("provision event = %v", ev)
	}
	if strings.Contains(jsonString(ev[0].Data), "new-console-pass") {
		t.Errorf("the event carries the password: %v", ev[0].Data)
	}
}

func jsonString(v any) string { b, _ := json.Marshal(v); return string(b) }

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func TestInstallFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	cert, key := testPair(t, "pole-1")
	paths, err := InstallFiles(dir, map[string][]byte{"mqtt.cert_file": []byte(cert), "mqtt.key_file": []byte(key)})
	if err != nil {
		t.Fatal(err)
	}
	for k, p := range paths {
		info, err := os.Stat(p)
		if err != nil || info.Mode().Perm() != 0o600 {
			t.Errorf("%s: %s mode %v err %v; want 0600", k, p, info.Mode(), err)
		}
	}
	// A second provisioning with a new key keeps the first files until
	// the new configuration is saved and PruneFiles runs.
	cert2, key2 := testPair(t, "pole-1")
	paths2, err := InstallFiles(dir, map[string][]byte{"mqtt.cert_file": []byte(cert2), "mqtt.key_file": []byte(key2)})
	if err != nil {
		t.Fatal(err)
	}
	if paths2["mqtt.key_file"] == paths["mqtt.key_file"] {
		t.Fatal("a new key overwrote the file of the key in force")
	}
	if _, err := os.Stat(paths["mqtt.key_file"]); err != nil {
		t.Fatalf("the old key is gone before the new config was saved: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "operator-notes.txt"), []byte("x"), 0o600)
	if err := PruneFiles(dir, []string{paths2["mqtt.cert_file"], paths2["mqtt.key_file"]}); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{filepath.Base(paths2["mqtt.cert_file"]), filepath.Base(paths2["mqtt.key_file"]), "operator-notes.txt"}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("after prune: %q; want %q", names, want)
	}
	if _, err := InstallFiles(dir, map[string][]byte{"hardware.amp": nil}); err == nil {
		t.Error("InstallFiles took a key that is not a file key")
	}
}

func TestFactoryReset(t *testing.T) {
	t.Run("human, cancelled", func(t *testing.T) {
		r := newRig(t, nil)
		r.typ("factory-reset\r")
		r.expect("Type the device id (pole-1) or YES to confirm; anything else cancels: ")
		r.typ("pole-2\r")
		r.expect("factory-reset cancelled")
		if calls := r.be.Calls(); len(calls) != 0 {
			t.Errorf("calls = %q", calls)
		}
	})
	t.Run("human, confirmed with the id", func(t *testing.T) {
		be := newFakeBackend()
		be.access = Access{PasswordHash: testHash}
		r := newRig(t, be)
		r.login()
		r.typ("factory-reset\r")
		r.expect("or YES to confirm")
		r.typ("pole-1\r")
		r.expect("ok: configuration and data are back to their defaults")
		r.expect("pole-1# ") // blank again: no password
		if be.resets != 1 {
			t.Errorf("%d resets", be.resets)
		}
		if n := len(r.ev.find(EventSession, map[string]any{"state": "logout", "reason": "factory-reset"})); n != 1 {
			t.Errorf("%d logout events for the reset", n)
		}
	})
	t.Run("human, Ctrl-C cancels", func(t *testing.T) {
		r := newRig(t, nil)
		r.typ("factory-reset\r")
		r.expect("confirm")
		r.typ("\x03YES\r")
		r.expect("error unknown_command") // YES alone is not a command
		if calls := r.be.Calls(); len(calls) != 0 {
			t.Errorf("calls = %q", calls)
		}
	})
	t.Run("JSON, wrong confirmation", func(t *testing.T) {
		r := newRig(t, nil)
		r.typ(`{"id":"f","cmd":"factory-reset","args":{"confirm":"yes"}}` + "\n")
		if rep := r.jsonAck(); rep.OK || !strings.Contains(rep.Error.Message, `"confirm" must be the device id (pole-1) or YES`) {
			t.Errorf("ack = %+v", rep.Error)
		}
		r.typ(`{"id":"g","cmd":"factory-reset"}` + "\n")
		if rep := r.jsonAck(); rep.OK {
			t.Errorf("a reset without confirmation was done")
		}
		if calls := r.be.Calls(); len(calls) != 0 {
			t.Errorf("calls = %q", calls)
		}
	})
}

// TestNoiseAndOverlongLines: garbage gets one clear error line (not one per
// line), overlong lines are refused, and the console works right after.
func TestNoiseAndOverlongLines(t *testing.T) {
	r := newRig(t, nil)
	r.typ("\x00\x01\x02garbage\xff\r\x00\r\x00\r\x00\r")
	r.expect("error bad_request: a line of 11 bytes had control characters or invalid UTF-8; discarded")
	r.expect("# ")
	r.clk.Advance(noiseQuiet)
	r.typ("\x00\r")
	r.expect("(and 3 more such lines)")
	r.typ(strings.Repeat("z", 100_000) + "\r")
	r.expect("error too_large: the line was 100000 bytes; a command may have at most 8192 (65536 for a JSON document); discarded")
	r.typ(`{"id":"big","pad":"` + strings.Repeat("x", 100_000) + "\"}\n")
	rep := r.jsonAck()
	if rep.OK || rep.Error.Code != wire.CodeTooLarge || rep.ID != "" {
		t.Errorf("ack of a 100 KB JSON line = %+v", rep)
	}
	r.typ("{not json\n")
	if rep := r.jsonAck(); rep.Error == nil || rep.Error.Code != wire.CodeBadRequest {
		t.Errorf("ack of broken JSON = %+v", rep)
	}
	r.typ("ping\r")
	r.expect("version: 1.2.3")
	if calls := r.be.Calls(); !slices.Equal(calls, []string{"do ping"}) {
		t.Errorf("backend calls = %q; want only the ping", calls)
	}
}
