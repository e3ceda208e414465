//go:build linux

package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loaxa/loaxa/agent/console"
	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/hal"
	"github.com/loaxa/loaxa/internal/clock"
	"github.com/loaxa/loaxa/internal/testenv"
)

// board is a fake pole: a real console.Server with a recording backend, on
// the master side of a pseudo-terminal; loaxactl opens the slave by path,
// as it opens /dev/ttyUSB0.
type board struct {
	mu      sync.Mutex // guards the fields below
	access  console.Access
	id      string
	calls   []string
	provs   []console.Provisioning
	failing map[string]error
	refuse  error
	hashes  []string // console password hashes set by provisioning
	// starting is how many banners after a provisioning the board answers
	// like loaxad's console before its agent runs (from the file alone).
	starting, startingLeft int

	slavePath string
}

func newBoard(t *testing.T) *board {
	t.Helper()
	// Raw before the console writes anything: a cooked slave would echo
	// the banner back to the console as input.
	p := testenv.OpenPTY(t, true)
	m, s := p.Master, p.Slave
	b := &board{id: "blank", failing: map[string]error{}, slavePath: s.Name()}
	opened := false
	srv, err := console.New(console.Options{
		Backend: b, Name: "pty", Clock: clock.Real{},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Open: func(ctx context.Context) (io.ReadWriteCloser, error) {
			b.mu.Lock()
			defer b.mu.Unlock()
			if opened {
				return nil, fmt.Errorf("the test's pty opens once")
			}
			opened = true
			return m, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		s.Close() // kept open until now: the master then never sees a hang-up
	})
	return b
}

// set changes the board while its console runs.
func (b *board) set(f func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f()
}

func (b *board) record(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, s)
}

func (b *board) Calls() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.calls)
}

func (b *board) Do(ctx context.Context, doc []byte) []byte {
	c, derr := wire.Decode(doc, time.Now())
	if derr != nil {
		out, _ := json.Marshal(wire.Ack{ID: derr.ID, Error: derr})
		return out
	}
	b.record("do " + c.Cmd)
	out, _ := json.Marshal(wire.Ack{ID: c.ID, Cmd: c.Cmd, OK: true, Result: map[string]any{"version": "1.0.0"}})
	return out
}

func (b *board) Banner(ctx context.Context) console.Banner {
	b.mu.Lock()
	defer b.mu.Unlock()
	bn := console.Banner{ID: b.id, Version: "1.0.0", Broker: "tcp://127.0.0.1:1883", Zones: map[string]bool{"z1": false, "z2": false}}
	if b.startingLeft > 0 {
		b.startingLeft--
		bn.NotRunning, bn.Link = true, "the agent is not running: starting"
	}
	return bn
}

func (b *board) Access() console.Access {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.access
}

func (b *board) test(part string) (console.TestReport, error) {
	b.record("test " + part)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.startingLeft > 0 {
		return console.TestReport{}, fmt.Errorf("the agent is not running: starting")
	}
	if err := b.failing[part]; err != nil {
		return console.TestReport{}, err
	}
	return console.TestReport{Detail: part + " ok"}, nil
}

func (b *board) TestRelay(ctx context.Context, name string) (console.TestReport, error) {
	return b.test("relay " + name)
}
func (b *board) TestTone(ctx context.Context) (console.TestReport, error)   { return b.test("tone") }
func (b *board) TestModem(ctx context.Context) (console.TestReport, error)  { return b.test("modem") }
func (b *board) TestBroker(ctx context.Context) (console.TestReport, error) { return b.test("broker") }

func (b *board) Provision(ctx context.Context, p console.Provisioning) (console.ProvisionReport, error) {
	b.record("provision")
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.refuse != nil {
		return console.ProvisionReport{}, b.refuse
	}
	var cfg struct {
		ID      string `json:"id"`
		Console struct {
			Password string `json:"password"`
		} `json:"console"`
	}
	json.Unmarshal(p.Config, &cfg)
	b.provs = append(b.provs, p)
	b.id = cfg.ID
	b.startingLeft = b.starting
	if cfg.Console.Password != "" {
		b.access.PasswordHash = cfg.Console.Password
		b.hashes = append(b.hashes, cfg.Console.Password)
	}
	return console.ProvisionReport{ID: cfg.ID, Changed: []string{"id"}, Restart: true}, nil
}

func (b *board) FactoryReset(ctx context.Context) error { b.record("factory-reset"); return nil }

// runCtl runs loaxactl with the real clock (its timeouts are failure
// bounds here) and stdin.
func runCtl(t *testing.T, stdin io.Reader, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr syncBuffer
	c := &CLI{Stdout: &stdout, Stderr: &stderr, Stdin: stdin, Getenv: func(string) string { return "" }, Clock: clock.Real{}}
	done := make(chan int, 1)
	go func() { done <- c.Run(context.Background(), args) }()
	select {
	case code := <-done:
		return code, stdout.String(), stderr.String()
	case <-time.After(2 * time.Minute):
		t.Fatalf("loaxactl %v did not finish\nstdout:\n%s\nstderr:\n%s", args, stdout.String(), stderr.String())
		return 0, "", ""
	}
}

// testCA writes a provincial CA's certificate and key into dir.
func testCA(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Nghe An province loudspeakers CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(20, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func writeJSON(t *testing.T, dir, name string, v any) string {
	t.Helper()
	p := filepath.Join(dir, name)
	b, _ := json.Marshal(v)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestProvisionBlankBoard is the technician's visit: a blank board, a
// pole.json with a console password, a certificate made on the laptop from
// the provincial CA; every part passes.
func TestProvisionBlankBoard(t *testing.T) {
	b := newBoard(t)
	dir := t.TempDir()
	caCert, caKey, pool := testCA(t, dir)
	pole := writeJSON(t, dir, "pole.json", map[string]any{
		"id": "xa-hung-loc-01", "groups": []string{"hung-loc"},
		"mqtt":    map[string]any{"broker": "tls://mqtt.example.vn:8883"},
		"console": map[string]any{"password": "pole-console-pass"},
	})
	code, stdout, stderr := runCtl(t, strings.NewReader(""), "provision", "--port", b.slavePath, "--file", pole,
		"--ca-cert", caCert, "--ca-key", caKey, "--broker-ca", caCert)
	if code != ExitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"pole xa-hung-loc-01 on " + b.slavePath, "PASS  relay z1", "PASS  relay z2", "PASS  amplifier",
		"PASS  tone", "PASS  modem", "PASS  broker", "all 6 checks passed"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("checklist lacks %q:\n%s", want, stdout)
		}
	}
	want := []string{"provision", "test relay z1", "test relay z2", "test relay amp", "test tone", "test modem", "test broker"}
	if got := b.Calls(); !slices.Equal(got, want) {
		t.Errorf("board calls = %q; want %q", got, want)
	}
	p := b.provs[0]
	// The console password crossed the cable hashed, and the tests ran
	// after logging in with it (the board locked itself when provisioned).
	if !console.VerifyPassword(b.hashes[0], "pole-console-pass") {
		t.Errorf("console password stored as %q; want a hash of the password", b.hashes[0])
	}
	if strings.Contains(string(p.Config), "pole-console-pass") {
		t.Errorf("the plain password crossed the cable: %s", p.Config)
	}
	// The certificate: CN = the pole's id, signed by the CA, for client
	// authentication, matching its key.
	pair, err := tls.X509KeyPair(p.Files["mqtt.cert_file"], p.Files["mqtt.key_file"])
	if err != nil {
		t.Fatalf("installed pair: %v", err)
	}
	cert, _ := x509.ParseCertificate(pair.Certificate[0])
	if cert.Subject.CommonName != "xa-hung-loc-01" {
		t.Errorf("certificate CN = %q", cert.Subject.CommonName)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("the certificate does not verify against the provincial CA: %v", err)
	}
	if string(p.Files["mqtt.ca_file"]) == "" {
		t.Error("--broker-ca was not installed as mqtt.ca_file")
	}
}

// loaxad's console answers as soon as it starts, from the configuration
// file, before the agent runs; the checklist ran then and failed now and
// then (a flaky e2e test showed it). It must wait for the agent.
func TestProvisionWaitsForTheAgentAfterTheRestart(t *testing.T) {
	b := newBoard(t)
	b.set(func() { b.starting = 4 })
	dir := t.TempDir()
	pole := writeJSON(t, dir, "pole.json", map[string]any{"id": "xa-hung-loc-02", "mqtt": map[string]any{"broker": "tcp://10.0.0.1:1883"}})
	code, stdout, stderr := runCtl(t, strings.NewReader(""), "provision", "--port", b.slavePath, "--file", pole)
	if code != ExitOK || !strings.Contains(stdout, "all 6 checks passed") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

func TestProvisionChecklistFailures(t *testing.T) {
	t.Run("modem missing", func(t *testing.T) {
		b := newBoard(t)
		b.set(func() { b.failing["modem"] = fmt.Errorf("modem: %w", hal.ErrAbsent) })
		b.set(func() {
			b.failing["relay z2"] = wire.Errf(wire.CodeInternal, "zone z2 relay GPIO27: input/output error")
		})
		pole := writeJSON(t, t.TempDir(), "pole.json", map[string]any{"id": "pole-2"})
		code, stdout, _ := runCtl(t, nil, "provision", "--port", b.slavePath, "--file", pole)
		if code != ExitFailed {
			t.Errorf("exit %d; want %d", code, ExitFailed)
		}
		for _, want := range []string{"FAIL  relay z2   internal: zone z2 relay GPIO27: input/output error",
			"FAIL  modem      unsupported: modem: not present on this board", "2 of 6 checks FAILED"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("checklist lacks %q:\n%s", want, stdout)
			}
		}
	})
	t.Run("modem missing on a Wi-Fi pole", func(t *testing.T) {
		b := newBoard(t)
		b.set(func() { b.failing["modem"] = fmt.Errorf("modem: %w", hal.ErrAbsent) })
		pole := writeJSON(t, t.TempDir(), "pole.json", map[string]any{"id": "pole-2"})
		code, stdout, _ := runCtl(t, nil, "provision", "--port", b.slavePath, "--file", pole, "--no-modem")
		if code != ExitOK || !strings.Contains(stdout, "SKIP  modem") {
			t.Errorf("exit %d, stdout:\n%s", code, stdout)
		}
	})
}

func TestProvisionLogin(t *testing.T) {
	hash, err := console.HashPassword("the-old-password")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("password file", func(t *testing.T) {
		b := newBoard(t)
		b.set(func() { b.access.PasswordHash = hash })
		dir := t.TempDir()
		pw := filepath.Join(dir, "pw")
		os.WriteFile(pw, []byte("the-old-password\n"), 0o600)
		pole := writeJSON(t, dir, "pole.json", map[string]any{"id": "pole-3"})
		code, stdout, stderr := runCtl(t, nil, "provision", "--port", b.slavePath, "--file", pole, "--password-file", pw)
		if code != ExitOK {
			t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
		}
	})
	t.Run("asked", func(t *testing.T) {
		b := newBoard(t)
		b.set(func() { b.access.PasswordHash = hash })
		pole := writeJSON(t, t.TempDir(), "pole.json", map[string]any{"id": "pole-3"})
		code, stdout, stderr := runCtl(t, strings.NewReader("the-old-password\n"), "provision", "--port", b.slavePath, "--file", pole)
		if code != ExitOK || !strings.Contains(stderr, "console password: ") {
			t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
		}
	})
	t.Run("wrong password changes nothing", func(t *testing.T) {
		b := newBoard(t)
		b.set(func() { b.access.PasswordHash = hash })
		pole := writeJSON(t, t.TempDir(), "pole.json", map[string]any{"id": "pole-3"})
		code, _, stderr := runCtl(t, strings.NewReader("not-the-password\n"), "provision", "--port", b.slavePath, "--file", pole)
		if code != ExitFailed || !strings.Contains(stderr, "login refused: unauthorized: wrong password") {
			t.Errorf("exit %d, stderr:\n%s", code, stderr)
		}
		if calls := b.Calls(); len(calls) != 0 {
			t.Errorf("board calls = %q; want none", calls)
		}
	})
}

func TestProvisionRefused(t *testing.T) {
	b := newBoard(t)
	b.set(func() { b.refuse = wire.Errf(wire.CodeBadArgs, "key mqtt.broker: has no port") })
	pole := writeJSON(t, t.TempDir(), "pole.json", map[string]any{"id": "pole-4", "mqtt": map[string]any{"broker": "tcp://h"}})
	code, stdout, stderr := runCtl(t, nil, "provision", "--port", b.slavePath, "--file", pole)
	if code != ExitFailed || !strings.Contains(stderr, "the pole refused the configuration, nothing changed: bad_args: key mqtt.broker: has no port") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if calls := b.Calls(); !slices.Equal(calls, []string{"provision"}) {
		t.Errorf("calls = %q; no test may run after a refusal", calls)
	}
}

func TestProvisionUsage(t *testing.T) {
	dir := t.TempDir()
	good := writeJSON(t, dir, "pole.json", map[string]any{"id": "pole-5"})
	noID := writeJSON(t, dir, "noid.json", map[string]any{"mqtt": map[string]any{}})
	weak := writeJSON(t, dir, "weak.json", map[string]any{"id": "pole-5", "console": map[string]any{"password": "short"}})
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"provision", "--file", good}, "--port is required"},
		{[]string{"provision", "--port", "/dev/null"}, "--file is required"},
		{[]string{"provision", "--port", "/dev/null", "--file", noID}, `"id" must be the pole's device id`},
		{[]string{"provision", "--port", "/dev/null", "--file", weak}, "console.password: the password must have at least 8 characters"},
		{[]string{"provision", "--port", "/dev/null", "--file", good, "--ca-cert", "x"}, "--ca-cert and --ca-key go together"},
		{[]string{"provision", "--port", "/dev/null", "--file", good, "--ca-cert", "/nonexistent", "--ca-key", "/nonexistent"}, "--ca-cert /nonexistent"},
		{[]string{"provision", "--port", "/dev/null", "--file", "/nonexistent.json"}, "--file: open /nonexistent.json"},
		{[]string{"provision", "extra"}, `provision takes flags only, got "extra"`},
		{[]string{"console"}, "console: --port is required"},
	}
	for _, tc := range tests {
		code, _, stderr := runCtl(t, nil, tc.args...)
		if code != ExitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("loaxactl %q = %d, stderr:\n%s\nwant %d and %q", tc.args, code, stderr, ExitUsage, tc.want)
		}
	}
	code, _, stderr := runCtl(t, nil, "provision", "--port", "/dev/loaxa-nothing", "--file", good)
	if code != ExitUnavailable || !strings.Contains(stderr, "/dev/loaxa-nothing") {
		t.Errorf("a missing port: exit %d, %s", code, stderr)
	}
}

// TestConsoleTerminal: `loaxactl console` passes keys and answers through,
// and Ctrl-] quits.
func TestConsoleTerminal(t *testing.T) {
	b := newBoard(t)
	inR, inW := io.Pipe()
	var stdout, stderr syncBuffer
	c := &CLI{Stdout: &stdout, Stderr: &stderr, Stdin: inR, Getenv: func(string) string { return "" }, Clock: clock.Real{}}
	done := make(chan int, 1)
	go func() { done <- c.Run(context.Background(), []string{"console", "--port", b.slavePath}) }()
	inW.Write([]byte("ping\r"))
	waitFor(t, "the answer to ping", func() bool { return strings.Contains(stdout.String(), "version: 1.0.0") })
	inW.Write([]byte("\x03status\x1d"))
	select {
	case code := <-done:
		if code != ExitOK {
			t.Errorf("exit %d; stderr %s", code, stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("Ctrl-] did not quit")
	}
	inW.Close()
	if !strings.Contains(stderr.String(), "Ctrl-] quits") {
		t.Errorf("stderr: %s", stderr.String())
	}
	if calls := b.Calls(); !slices.Equal(calls, []string{"do ping"}) {
		t.Errorf("calls = %q", calls)
	}
}
