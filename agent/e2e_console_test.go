//go:build linux

package agent_test

// End-to-end tests of the technician's serial console (issue 11): the
// console on one end of a pseudo-terminal, driven from the other end as a
// laptop on a USB-serial cable would drive it.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/loaxa/loaxa/agent"
	"github.com/loaxa/loaxa/agent/config"
	"github.com/loaxa/loaxa/agent/console"
	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/internal/mqtttest"
	"github.com/loaxa/loaxa/internal/testbin"
	"github.com/loaxa/loaxa/internal/testenv"
	"github.com/loaxa/loaxa/sim"
)

// ptyEnd is one pseudo-terminal: a program opens path (its slave) as it
// opens /dev/ttyAMA0; the test holds the master, the far end of the cable.
// The test also keeps the slave open, so the master never sees a hang-up
// while the program closes and reopens its end (an agent restarting).
type ptyEnd struct {
	master, slave *os.File
	path          string
}

func openPTY(t *testing.T) *ptyEnd {
	t.Helper()
	p := testenv.OpenPTY(t, true)
	return &ptyEnd{master: p.Master, slave: p.Slave, path: p.Path}
}

// cable joins two pseudo-terminals as a null-modem cable joins two serial
// ports: what one program writes on its end, the other reads on its own.
func cable(t *testing.T, a, b *ptyEnd) {
	t.Helper()
	var wg sync.WaitGroup
	for _, p := range [][2]*os.File{{a.master, b.master}, {b.master, a.master}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			io.Copy(p[1], p[0]) // ends when a master is closed
		}()
	}
	t.Cleanup(func() {
		a.master.Close()
		b.master.Close()
		wg.Wait()
	})
}

// terminal is a person at the far end of a ptyEnd.
type terminal struct {
	t    *testing.T
	end  *ptyEnd
	mu   sync.Mutex // guards out
	out  bytes.Buffer
	mark int
	done chan struct{}
}

func newTerminal(t *testing.T, end *ptyEnd) *terminal {
	tm := &terminal{t: t, end: end, done: make(chan struct{})}
	go func() {
		defer close(tm.done)
		buf := make([]byte, 4096)
		for {
			n, err := end.master.Read(buf)
			tm.mu.Lock()
			tm.out.Write(buf[:n])
			tm.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		end.master.Close()
		<-tm.done
	})
	return tm
}

// typ sends a line as typed.
func (tm *terminal) typ(line string) {
	tm.t.Helper()
	if _, err := tm.end.master.Write([]byte(line + "\r")); err != nil {
		tm.t.Fatal(err)
	}
}

// expect waits for want in the output after the last expectation and
// returns the output up to and including it.
func (tm *terminal) expect(want string) string {
	tm.t.Helper()
	deadline := time.Now().Add(2 * mqtttest.WaitTimeout)
	for {
		tm.mu.Lock()
		s := tm.out.String()[tm.mark:]
		if i := strings.Index(s, want); i >= 0 {
			tm.mark += i + len(want)
			tm.mu.Unlock()
			return s[:i+len(want)]
		}
		tm.mu.Unlock()
		if time.Now().After(deadline) {
			tm.t.Fatalf("the console never printed %q; it printed:\n%s", want, s)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// consolePole is an agent in this process, its console on a pty.
type consolePole struct {
	*pole
	term *terminal
}

// startConsolePole runs an agent on simulated hardware with its console
// on a pseudo-terminal, wired as loaxad wires them.
func startConsolePole(t *testing.T, b *mqtttest.Broker, id string) *consolePole {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.ID, cfg.DataDir, cfg.MQTT.Broker = id, dir, b.URL()
	hw, err := sim.NewHardware(filepath.Join(dir, "sim"), cfg.Hardware.Layout, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hw.Close() })
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil)).With("pole", id)
	}
	a, err := agent.New(agent.Options{Config: cfg, ConfigPath: filepath.Join(dir, "loaxa.toml"), Hardware: hw.HAL(), Log: log, Version: "e2e"})
	if err != nil {
		t.Fatal(err)
	}
	end := openPTY(t)
	srv, err := console.New(console.Options{Backend: a.ConsoleBackend(), Open: console.SerialOpener(end.path, console.DefaultBaud),
		Name: end.path, Log: log, Event: a.Report, IsSecret: config.IsSecret})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &pole{id: id, dir: dir, topics: wire.Topics{Root: cfg.TopicRoot, ID: id}, sim: hw, cancel: cancel, done: make(chan error, 1)}
	go func() { p.done <- a.Run(ctx) }()
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		p.stop()
	})
	term := newTerminal(t, end)
	term.expect("loaxa pole " + id)
	term.expect(id + "# ")
	return &consolePole{pole: p, term: term}
}

// Both forms of the console's grammar reach the agent's handlers: a person
// typing `zones on z1 z2` and a tool sending the JSON document get the same
// effect, the first in words, the second as one ack line. A password set
// with `config set` locks the console until `login`. Every command is an
// event for the operator; no console ack goes to the ack topic.
func TestE2EConsoleBothFormsOnAPty(t *testing.T) {
	b := mqtttest.Start(t)
	watch := b.Subscribe(t, "loaxa/v1/dev/pole-con/#")
	p := startConsolePole(t, b, "pole-con")
	until(t, watch, "online", statusIs(p.topics.Status(), true, 0))
	tm := p.term
	level := func(pin string) bool { on, _ := p.sim.Level(pin); return on }

	tm.typ("zones on z1 z2")
	if out := tm.expect("pole-con# "); !strings.Contains(out, "ok\r\n") || !strings.Contains(out, "z1 on, z2 on, z3 off, z4 off") {
		t.Fatalf("zones on z1 z2:\n%s", out)
	}
	if !level("GPIO17") || !level("GPIO27") {
		t.Fatal("the relays did not switch")
	}
	tm.typ(`{"id":"j1","cmd":"zones","args":{"off":["z1"]}}`)
	if line := tm.expect("}\r\n"); !strings.Contains(line, `"id":"j1","cmd":"zones","ok":true`) {
		t.Fatalf("JSON zones: %q", line)
	}
	if level("GPIO17") || !level("GPIO27") {
		t.Fatal("the JSON form did not switch z1 off")
	}
	for _, tc := range []struct{ typed, want string }{
		{"volume 70", "volume: 70"},
		{`{"id":"j2","cmd":"volume","args":{"level":140}}`, `"code":"bad_args","message":"level must be 0..100, got 140"`},
		{"volume 140", "error bad_args: level must be 0..100, got 140"},
		{"ping", "version: e2e"},
		{`{"id":"j3","cmd":"ping"}`, `"result":{"uptime_s":`},
		{"config get mqtt.broker", "mqtt.broker: " + b.URL()},
		{`{"id":"j4","cmd":"config.get","args":{"keys":["tele_interval"]}}`, `"tele_interval":60`},
		{"status", `volume: 70`},
		{"banner", "connected (session 1)"},
		{"test relay z3", "ok: relay z3: z3 (GPIO22 (sim, active-low)) switched on for 1s, then off again"},
		{"test modem", "error unsupported: modem: not present on this board"},
		{"test broker", "ok: broker: connected to " + b.URL() + " as pole-con (session 1)"},
		{"dance", "error unknown_command"},
	} {
		tm.typ(tc.typed)
		if out := tm.expect(tc.want); strings.Contains(out, "error internal") {
			t.Errorf("%s: %s", tc.typed, out)
		}
	}
	tm.typ("config set console.password technician-pass")
	tm.expect("changed: console.password")
	if strings.Contains(tm.out.String(), "technician-pass") {
		t.Fatal("the console echoed the password")
	}
	tm.typ("zones on z3")
	tm.expect("error unauthorized: zones changes the pole: log in first")
	tm.typ(`{"id":"j5","cmd":"zones","args":{"on":["z3"]}}`)
	tm.expect(`"id":"j5","cmd":"zones","ok":false,"error":{"code":"unauthorized"`)
	tm.typ("login")
	tm.expect("password: ")
	tm.typ("technician-pass")
	tm.expect("logged in")
	tm.typ("zones on z3")
	tm.expect("z3 on")
	if !level("GPIO22") {
		t.Fatal("z3 did not switch after login")
	}
	got := untilAll(t, watch, func(m mqtttest.Message) bool {
		return m.Topic == p.topics.Event() && strings.Contains(string(m.Payload), `"type":"console.command"`) && strings.Contains(string(m.Payload), `"cmd":"zones"`) && strings.Contains(string(m.Payload), `"form":"json"`)
	}, func(m mqtttest.Message) bool {
		return m.Topic == p.topics.Event() && strings.Contains(string(m.Payload), `"type":"console.session"`) && strings.Contains(string(m.Payload), `"state":"login"`)
	}, func(m mqtttest.Message) bool {
		return m.Topic == p.topics.State() && strings.Contains(string(m.Payload), `"z3":true`)
	})
	if strings.Contains(string(got[0].Payload), "technician-pass") {
		t.Errorf("an event holds the password: %s", got[0].Payload)
	}
	op := mqtttest.Client(t, b, "operator")
	mqtttest.Publish(t, op, p.topics.Cmd(), 1, false, []byte(`{"id":"after","cmd":"ping"}`))
	until(t, watch, "ack after", func(m mqtttest.Message) bool {
		if m.Topic == p.topics.Ack() && strings.Contains(string(m.Payload), `"id":"j`) {
			t.Errorf("a console ack went to the ack topic: %s", m.Payload)
		}
		return m.Topic == p.topics.Ack() && strings.Contains(string(m.Payload), `"id":"after"`)
	})
}

// While the broker is away the console still works, says so in its banner,
// and the operator gets the session's events once the broker is back.
func TestE2EConsoleWhileTheBrokerIsAway(t *testing.T) {
	b := mqtttest.Start(t)
	watch := b.Subscribe(t, "loaxa/v1/dev/pole-away/#")
	p := startConsolePole(t, b, "pole-away")
	until(t, watch, "online", statusIs(p.topics.Status(), true, 0))
	b.Stop()
	tm := p.term
	tm.typ("zones on z4")
	tm.expect("z4 on")
	if on, _ := p.sim.Level("GPIO23"); !on {
		t.Fatal("z4 did not switch with the broker away")
	}
	// The banner says so once the agent has noticed the broker is gone (a
	// loaded machine may take a moment): ask again until it does.
	deadline := time.Now().Add(2 * mqtttest.WaitTimeout)
	for {
		tm.typ("banner")
		out := tm.expect("type `help` for the commands")
		if strings.Contains(out, "not connected") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the banner still says the broker is connected:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	tm.typ(`{"id":"a1","cmd":"status"}`)
	tm.expect(`"id":"a1","cmd":"status","ok":true`)
	b.Restart()
	watch = b.Subscribe(t, "loaxa/v1/dev/pole-away/#")
	untilAll(t, watch, func(m mqtttest.Message) bool {
		return m.Topic == p.topics.Event() && strings.Contains(string(m.Payload), `"type":"console.command"`) && strings.Contains(string(m.Payload), `"cmd":"status"`)
	}, func(m mqtttest.Message) bool {
		return m.Topic == p.topics.State() && strings.Contains(string(m.Payload), `"z4":true`)
	})
}

// opWatch subscribes an operator's client to topic.
func opWatch(t *testing.T, c mqtt.Client, topic string) <-chan mqtttest.Message {
	t.Helper()
	ch := make(chan mqtttest.Message, 1024)
	var mu sync.Mutex // guards closed
	closed := false
	mqtttest.Wait(t, c.Subscribe(topic, 1, func(_ mqtt.Client, m mqtt.Message) {
		mu.Lock()
		defer mu.Unlock()
		if closed {
			return
		}
		select {
		case ch <- mqtttest.Message{Topic: m.Topic(), Payload: append([]byte(nil), m.Payload()...), Retained: m.Retained()}:
		default:
		}
	}), "subscribe "+topic)
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		closed = true
	})
	return ch
}

// The technician's visit, with the real binaries: a blank --sim board
// (no id) with its console on one end of a cable, `loaxactl provision` on
// the other. The board is provisioned with its id, the address of a broker
// that admits each pole only as itself (scripts/mosquitto-acl.example) and
// its own identity: a password, or a key and a certificate that loaxactl
// makes on the laptop from the provincial CA. It restarts, connects under
// its new identity, passes the checklist, and answers ping over MQTT.
func TestE2EConsoleProvisionsABlankBoard(t *testing.T) {
	for _, identity := range []string{"password", "certificate"} {
		t.Run(identity, func(t *testing.T) { provisionBlankBoard(t, identity) })
	}
}

func provisionBlankBoard(t *testing.T, identity string) {
	const id = "xa-e2e-01"
	work := t.TempDir()
	example, err := os.ReadFile(filepath.Join("..", "scripts", "mosquitto-acl.example"))
	if err != nil {
		t.Fatal(err)
	}
	acl := filepath.Join(work, "loaxa.acl")
	os.WriteFile(acl, append(example, "\nuser "+id+"\ntopic read loaxa/v1/grp/xa-e2e/cmd\n"...), 0o600)
	mqttDoc := map[string]any{}
	var ctlArgs []string
	var b *mqtttest.Broker
	var op mqtt.Client
	switch identity {
	case "password":
		b = mqtttest.StartWith(t, mqtttest.Options{
			Users:    map[string]string{"operator": "op-secret", id: "pole-secret"},
			ACLFile:  acl,
			Listener: []string{"use_username_as_clientid true"},
		})
		op = mqtttest.Connect(t, mqtttest.ClientAs(b, "operator", "operator", "op-secret"))
		mqttDoc = map[string]any{"broker": b.URL(), "username": id, "password": "pole-secret"}
	case "certificate":
		pki := newPKI(t, work)
		b = mqtttest.StartWith(t, mqtttest.Options{
			ACLFile: acl,
			Listener: []string{"cafile " + pki.caFile, "certfile " + pki.serverCert, "keyfile " + pki.serverKey,
				"require_certificate true", "use_identity_as_username true", "use_username_as_clientid true"},
		})
		url := "tls://" + b.Addr()
		op = mqtttest.Connect(t, mqtt.NewClientOptions().AddBroker(url).SetClientID("operator").SetAutoReconnect(false).
			SetConnectTimeout(mqtttest.WaitTimeout).SetTLSConfig(pki.operator))
		mqttDoc = map[string]any{"broker": url}
		ctlArgs = []string{"--ca-cert", pki.caFile, "--ca-key", pki.caKey, "--broker-ca", pki.caFile}
	}
	brokerURL := mqttDoc["broker"].(string)
	watch := opWatch(t, op, "loaxa/v1/dev/"+id+"/#")

	board, laptop := openPTY(t), openPTY(t)
	cable(t, board, laptop)
	dir := t.TempDir()
	runLoaxad(t, "--sim", "--data-dir", dir, "--console", board.path)

	poleFile := filepath.Join(work, "pole.json")
	doc, _ := json.Marshal(map[string]any{"id": id, "groups": []string{"xa-e2e"}, "mqtt": mqttDoc,
		"console": map[string]any{"password": "technician-pass"}})
	os.WriteFile(poleFile, doc, 0o600)
	ctl, err := testbin.Path("loaxactl")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// loaxad --sim has its emulated modem: the modem check runs for real.
	cmd := exec.CommandContext(ctx, ctl, append([]string{"provision", "--port", laptop.path, "--file", poleFile}, ctlArgs...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatal(err)
		}
		t.Fatalf("loaxactl provision: %v\nstdout:\n%s\nstderr:\n%s\nbroker log:\n%s", err, stdout.String(), stderr.String(), b.Log())
	}
	for _, want := range []string{"pole " + id, "PASS  relay z1", "PASS  relay z4", "PASS  amplifier", "PASS  tone", "PASS  modem",
		"PASS  broker", "connected to " + brokerURL + " as " + id, "all 8 checks passed"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("the checklist lacks %q:\n%s", want, stdout.String())
		}
	}
	topics := wire.Topics{Root: wire.DefaultRoot, ID: id}
	// Online under the new identity, with the technician's session on
	// record for the operator: its tests, and the provisioning itself
	// (made on the blank board, sent after the restart with its time).
	untilAll(t, watch, statusIs(topics.Status(), true, 0), func(m mqtttest.Message) bool {
		return m.Topic == topics.Event() && strings.Contains(string(m.Payload), `"cmd":"test.broker"`)
	}, func(m mqtttest.Message) bool {
		return m.Topic == topics.Event() && strings.Contains(string(m.Payload), `"cmd":"provision"`) && strings.Contains(string(m.Payload), `"at":`)
	})
	mqtttest.Publish(t, op, topics.Cmd(), 1, false, []byte(`{"id":"hello","cmd":"ping"}`))
	ack := decode[wire.Ack](t, until(t, watch, "ack of ping", ackFor(topics, "hello")))
	if !ack.OK {
		t.Fatalf("ping over MQTT: %+v", ack)
	}
	saved, err := config.Load(filepath.Join(dir, "loaxa.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if saved.ID != id || !console.VerifyPassword(saved.Console.Password, "technician-pass") || saved.Console.Port != board.path {
		t.Errorf("saved configuration %+v", saved)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "loaxa.toml"))
	if strings.Contains(string(raw), "technician-pass") {
		t.Error("the console password is saved in clear")
	}
	if identity == "certificate" {
		for _, f := range []string{saved.MQTT.CAFile, saved.MQTT.CertFile, saved.MQTT.KeyFile} {
			info, err := os.Stat(f)
			if err != nil || filepath.Dir(f) != filepath.Join(dir, "credentials") || info.Mode().Perm() != 0o600 {
				t.Errorf("credential file %q: %v %v", f, info, err)
			}
		}
	}
}

// pki is a provincial CA, the broker's certificate, and an operator's.
type pki struct {
	caFile, caKey, serverCert, serverKey string
	operator                             *tls.Config
}

func newPKI(t *testing.T, dir string) *pki {
	t.Helper()
	now := time.Now()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caKey := newKey()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test province CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, ip bool) ([]byte, *ecdsa.PrivateKey) {
		k := newKey()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0), ExtKeyUsage: []x509.ExtKeyUsage{usage},
			KeyUsage: x509.KeyUsageDigitalSignature}
		if ip {
			tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, k
	}
	p := &pki{caFile: write("ca.pem", "CERTIFICATE", caDER)}
	kder, _ := x509.MarshalECPrivateKey(caKey)
	p.caKey = write("ca.key", "EC PRIVATE KEY", kder)
	srvDER, srvKey := issue(2, "127.0.0.1", x509.ExtKeyUsageServerAuth, true)
	p.serverCert = write("server.pem", "CERTIFICATE", srvDER)
	kder, _ = x509.MarshalECPrivateKey(srvKey)
	p.serverKey = write("server.key", "EC PRIVATE KEY", kder)
	opDER, opKey := issue(3, "operator", x509.ExtKeyUsageClientAuth, false)
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	p.operator = &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{{Certificate: [][]byte{opDER}, PrivateKey: opKey}}}
	return p
}
