package agent

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/loaxa/loaxa/agent/config"
	"github.com/loaxa/loaxa/agent/console"
	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/hal"
)

// running is a testPole whose Run goroutine runs (fake clock, a broker
// that never answers), for the console's backend to call into.
type running struct {
	*testPole
	b      *consoleBackend
	cancel context.CancelFunc
	ch     chan error
	once   sync.Once
	err    error
}

func runConsolePole(t *testing.T, dir string, edit func(*config.Config), opts func(*Options)) *running {
	t.Helper()
	p := newPole(t, dir, func(c *config.Config) {
		c.MQTT.Broker = "tcp://127.0.0.1:1"
		if edit != nil {
			edit(c)
		}
	})
	if opts != nil {
		opts(&p.opts)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{testPole: p, b: p.console, cancel: cancel, ch: make(chan error, 1)}
	go func() { r.ch <- p.Run(ctx) }()
	t.Cleanup(func() { cancel(); r.wait() })
	return r
}

// wait returns what Run returned.
func (r *running) wait() error {
	r.once.Do(func() { r.err = <-r.ch })
	return r.err
}

// onRun runs f on the Run goroutine.
func (r *running) onRun(t *testing.T, f func()) {
	t.Helper()
	if err := r.call(context.Background(), f); err != nil {
		t.Fatal(err)
	}
}

// untilDone advances the fake clock until f returns: f waits on timers.
func untilDone[T any](t *testing.T, r *running, step time.Duration, f func() T) T {
	t.Helper()
	out := make(chan T, 1)
	go func() { out <- f() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case v := <-out:
			return v
		case <-time.After(time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("the console call did not return")
			}
			r.clk.Advance(step)
		}
	}
}

func ackOf(t *testing.T, b []byte) *ackDoc {
	t.Helper()
	a := &ackDoc{raw: string(b)}
	if err := json.Unmarshal(b, a); err != nil {
		t.Fatalf("not an ack: %s", b)
	}
	return a
}

// The console runs commands through the MQTT path (the same handlers and
// remembered answers) without the HMAC signature, and its acks go to the
// console only; its ids do not mix with MQTT ids.
func TestConsoleDoIsTheMQTTPathWithoutSignatures(t *testing.T) {
	r := runConsolePole(t, "", func(c *config.Config) {
		c.Auth.CommandKey = "00112233445566778899aabbccddeeff"
		c.Auth.Signed = []string{"*"}
	}, nil)
	ctx := context.Background()
	doc := []byte(`{"id":"c1","cmd":"zones","args":{"on":["z1"]}}`)
	first := r.b.Do(ctx, doc)
	if a := ackOf(t, first); !a.OK {
		t.Fatalf("console zones with a command key set: %s", first)
	}
	n := len(r.sim.Transitions())
	again := r.b.Do(ctx, doc)
	if !bytes.Equal(first, again) || len(r.sim.Transitions()) != n {
		t.Fatalf("a repeated console id ran again or was answered differently:\n%s\n%s", first, again)
	}
	if a := ackOf(t, r.b.Do(ctx, []byte(`{"id":"c2","cmd":"zones","args":{"on":["z9"]}}`))); a.code() != "bad_args" {
		t.Errorf("unknown zone: %s", a.raw)
	}
	if a := ackOf(t, r.b.Do(ctx, []byte(`{"id":`))); a.code() != "bad_request" {
		t.Errorf("broken document: %s", a.raw)
	}
	r.published()
	// The same id over MQTT is another command, and there it needs its
	// signature.
	r.onRun(t, func() { r.handle(Inbound{Topic: r.topics.Cmd(), Payload: doc}) })
	var acks []string
	for _, m := range r.published() {
		if m.Topic == r.topics.Ack() {
			acks = append(acks, string(m.Payload))
		}
	}
	if len(acks) != 1 || !strings.Contains(acks[0], `"unauthorized"`) {
		t.Fatalf("MQTT acks after an unsigned c1: %q", acks)
	}
	// Read-only commands are not remembered; changes are, under the
	// console's key.
	r.b.Do(ctx, []byte(`{"id":"p1","cmd":"ping"}`))
	r.onRun(t, func() {
		if _, ok := r.answers.find(consoleAnswerPrefix+"p1", r.clk.Now()); ok {
			t.Error("a console ping was remembered")
		}
		if _, ok := r.answers.find(consoleAnswerPrefix+"c1", r.clk.Now()); !ok {
			t.Error("the console's zones command was not remembered")
		}
		if _, ok := r.answers.find("c1", r.clk.Now()); ok {
			t.Error("the console's id was remembered as an MQTT id")
		}
	})
}

// A plain console password sent with config.set is stored as its hash,
// never in clear, and takes effect on the console at once.
func TestConsoleConfigSetHashesThePassword(t *testing.T) {
	p := newPole(t, "", nil)
	ack, _ := p.send(t, cmd("pw1", "config.set", `{"values":{"console.password":"technician-1"}}`))
	if !ack.OK {
		t.Fatalf("config.set console.password: %s", ack.raw)
	}
	file, err := os.ReadFile(filepath.Join(p.dir, "loaxa.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(file), "technician-1") || !strings.Contains(string(file), "$pbkdf2-sha256$") {
		t.Fatalf("the saved file holds:\n%s", file)
	}
	acc := p.ConsoleBackend().Access()
	if !console.VerifyPassword(acc.PasswordHash, "technician-1") {
		t.Fatalf("the console's access was not refreshed: %+v", acc)
	}
	if strings.Contains(ack.raw, "technician-1") || strings.Contains(ack.raw, "pbkdf2") {
		t.Errorf("the ack shows the secret: %s", ack.raw)
	}
	ack, _ = p.send(t, cmd("pw2", "config.set", `{"values":{"console.password":"short"}}`))
	if ack.code() != "bad_args" || !strings.Contains(ack.Error.Message, "console.password") || strings.Contains(ack.raw, "short\"") {
		t.Fatalf("short password: %s", ack.raw)
	}
	if !console.VerifyPassword(p.ConsoleBackend().Access().PasswordHash, "technician-1") {
		t.Fatal("a refused password changed the access")
	}
	ack, _ = p.send(t, cmd("pw3", "config.set", `{"values":{"console.idle_s":120}}`))
	if !ack.OK || p.ConsoleBackend().Access().Idle != 2*time.Minute || !strings.Contains(ack.raw, `"restart_required":[]`) {
		t.Fatalf("idle_s: %s, access %+v", ack.raw, p.ConsoleBackend().Access())
	}
}

// test relay switches a relay to the other level for a second and back
// to what the output wants; the state and the saved zones do not change.
func TestConsoleRelayTest(t *testing.T) {
	r := runConsolePole(t, "", nil, nil)
	ctx := context.Background()
	if a := ackOf(t, r.b.Do(ctx, []byte(`{"id":"z","cmd":"zones","args":{"on":["z1"]}}`))); !a.OK {
		t.Fatal(a.raw)
	}
	type result struct {
		rep console.TestReport
		err error
	}
	for _, tc := range []struct {
		relay, pin string
		was        bool
	}{{"z2", "GPIO27", false}, {"z1", "GPIO17", true}, {"amp", "GPIO5", false}} {
		t.Run(tc.relay, func(t *testing.T) {
			before := len(r.sim.Transitions())
			res := untilDone(t, r, 100*time.Millisecond, func() result {
				rep, err := r.b.TestRelay(ctx, tc.relay)
				return result{rep, err}
			})
			if res.err != nil {
				t.Fatal(res.err)
			}
			var got []string
			for _, tr := range r.sim.Transitions()[before:] {
				got = append(got, fmt.Sprintf("%s=%v", tr.Pin, tr.On))
			}
			want := []string{fmt.Sprintf("%s=%v", tc.pin, !tc.was), fmt.Sprintf("%s=%v", tc.pin, tc.was)}
			if !slices.Equal(got, want) {
				t.Fatalf("transitions %v, want %v", got, want)
			}
			if !strings.Contains(res.rep.Detail, tc.relay) || res.rep.Values["was_on"] != tc.was {
				t.Errorf("report %+v", res.rep)
			}
		})
	}
	r.onRun(t, func() {
		if !r.zones["z1"] || r.zones["z2"] {
			t.Errorf("the saved zones changed: %v", r.zones)
		}
	})
	_, err := r.b.TestRelay(ctx, "z9")
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != wire.CodeBadArgs || !strings.Contains(we.Message, "z1, z2, z3, z4 and amp") {
		t.Fatalf("unknown relay: %v", err)
	}
}

// Relays are not tested under audio: the test would click in the horns.
func TestConsoleRelayTestWaitsForSilence(t *testing.T) {
	p, _ := handPole(t)
	if ack, _ := p.send(t, playCmd("n1", `{"source":"file:440"}`)); !ack.OK {
		t.Fatal(ack.raw)
	}
	if e := p.relayTestAllowed(); e == nil || e.Code != wire.CodeBusy || !strings.Contains(e.Message, "n1") {
		t.Fatalf("relay test while n1 plays: %v", e)
	}
}

// test tone plays a tone as an item of the ladder, through the amplifier
// and every zone, and reports when it has been heard whole.
func TestConsoleTone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := runPole(t, nil)
		rep, err := p.ConsoleBackend().TestTone(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if rep.Values["item"] != "console-tone-1" || !strings.Contains(rep.Detail, "z1, z2, z3, z4") {
			t.Errorf("report %+v", rep)
		}
		end := p.waitEvent(t, "play.end", "console-tone-1")
		if end["reason"] != "completed" {
			t.Errorf("play.end %v", end)
		}
		on := map[string]bool{}
		for _, tr := range p.sim.Transitions() {
			if tr.On {
				on[tr.Output] = true
			}
		}
		for _, o := range []string{"amp", "zone z1", "zone z2", "zone z3", "zone z4"} {
			if !on[o] {
				t.Errorf("%s never switched on: %v", o, p.sim.Transitions())
			}
		}
	})
}

// fakeModem answers Read with a fixed reading.
type fakeModem struct {
	r   hal.ModemReading
	err error
}

func (m *fakeModem) String() string                                     { return "EC25 on /dev/ttyUSB2" }
func (m *fakeModem) Read(ctx context.Context) (hal.ModemReading, error) { return m.r, m.err }
func (m *fakeModem) RadioOff(ctx context.Context) error                 { return nil }
func (m *fakeModem) RadioOn(ctx context.Context) error                  { return nil }
func (m *fakeModem) Reset(ctx context.Context) error                    { return nil }
func (m *fakeModem) Halt() error                                        { return nil }

var quiet = slog.New(slog.DiscardHandler)

func ptr[T any](v T) *T { return &v }

func TestConsoleModemTest(t *testing.T) {
	good := hal.ModemReading{IMEI: ptr("861234567890123"), ICCID: ptr("8984049000000000001"), Operator: ptr("Viettel"),
		RAT: ptr("LTE"), RSRPdBm: ptr(-95.0), Registration: ptr(hal.RegHome), SIM: ptr(hal.SIMReady)}
	noSIM := good
	noSIM.SIM, noSIM.Registration = ptr(hal.SIMAbsent), ptr(hal.RegNotRegistered)
	searching := good
	searching.Registration = ptr(hal.RegSearching)
	tests := []struct {
		name   string
		modem  hal.Modem
		absent bool
		want   string // in the detail, or the error
	}{
		{"no modem", nil, true, "not present"},
		{"registered", &fakeModem{r: good}, false, "registered (home) on Viettel, LTE, RSRP -95 dBm"},
		{"no SIM", &fakeModem{r: noSIM}, false, "the SIM is absent"},
		{"searching", &fakeModem{r: searching}, false, "not registered on a network (searching)"},
		{"gone", &fakeModem{err: fmt.Errorf("no AT port: %w", hal.ErrAbsent)}, true, "no AT port"},
		{"silent", &fakeModem{err: errors.New("no answer to AT")}, false, "no answer to AT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPole(t, "", nil)
			p.opts.Modem = tt.modem
			rep, err := p.ConsoleBackend().TestModem(context.Background())
			if errors.Is(err, hal.ErrAbsent) != tt.absent {
				t.Fatalf("err %v, want absent=%v", err, tt.absent)
			}
			got := rep.Detail
			if err != nil {
				got = err.Error()
			}
			if !strings.Contains(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			if tt.name == "registered" && (rep.Values["imei"] != "861234567890123" || p.console.iccid != "8984049000000000001") {
				t.Errorf("values %v, cached iccid %q", rep.Values, p.console.iccid)
			}
		})
	}
}

// test broker reports the link; when it is down it asks for a retry and
// says why it could not connect. Saved broker settings that await a
// restart are said so, not tested behind the technician's back.
func TestConsoleBrokerTest(t *testing.T) {
	r := runConsolePole(t, "", nil, nil)
	r.b.brokerWait = 2 * time.Second
	ctx := context.Background()
	err := untilDone(t, r, 100*time.Millisecond, func() error { _, err := r.b.TestBroker(ctx); return err })
	if err == nil || !strings.Contains(err.Error(), "not connected to tcp://127.0.0.1:1 after 2s: connect tcp://127.0.0.1:1") {
		t.Fatalf("broker away: %v", err)
	}
	bn := r.b.Banner(ctx)
	if bn.Connected || !strings.HasPrefix(bn.Link, "connect tcp://127.0.0.1:1") || bn.ID != "pole-test" {
		t.Errorf("banner %+v", bn)
	}
	if a := ackOf(t, r.b.Do(ctx, []byte(`{"id":"b1","cmd":"config.set","args":{"values":{"mqtt.broker":"tcp://127.0.0.1:2"}}}`))); !a.OK {
		t.Fatal(a.raw)
	}
	_, err = r.b.TestBroker(ctx)
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != wire.CodeBusy || !strings.Contains(we.Message, "mqtt.broker") {
		t.Fatalf("pending broker change: %v", err)
	}
}

// testCert makes a self-signed certificate and its key, PEM.
func testCert(t *testing.T, cn string) (cert, key []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: t0.Add(-time.Hour), NotAfter: t0.AddDate(10, 0, 0), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(k)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// snapshot describes every file under dir: path, mode, size, content.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, _ := d.Info()
		fmt.Fprintf(&b, "%s %v %d", strings.TrimPrefix(p, dir), info.Mode(), info.Size())
		if !d.IsDir() {
			data, _ := os.ReadFile(p)
			fmt.Fprintf(&b, " %x", data)
		}
		b.WriteString("\n")
		return nil
	})
	return b.String()
}

// Provisioning a running agent: the whole configuration over the
// defaults, the files installed beside the ones in force, saved, and a
// restart.
func TestConsoleProvisionRunningAgent(t *testing.T) {
	dir := t.TempDir()
	r := runConsolePole(t, dir, nil, nil)
	hash, err := console.HashPassword("technician-pass")
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := testCert(t, "province CA")
	doc := fmt.Sprintf(`{"id":"pole-new","groups":["xa-a"],"mqtt":{"broker":"tls://127.0.0.1:8883","username":"pole-new","password":"pole-pass"},"console":{"password":%q}}`, hash)
	rep, err := r.b.Provision(context.Background(), console.Provisioning{Config: json.RawMessage(doc), Files: map[string][]byte{"mqtt.ca_file": ca}})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "groups", "mqtt.broker", "mqtt.username", "mqtt.password", "mqtt.ca_file", "console.password"} {
		if !slices.Contains(rep.Changed, k) {
			t.Errorf("changed %v lacks %s", rep.Changed, k)
		}
	}
	if rep.ID != "pole-new" || !rep.Restart {
		t.Errorf("report %+v", rep)
	}
	if err := r.wait(); !errors.Is(err, ErrRestart) {
		t.Fatalf("Run returned %v after provisioning, want ErrRestart", err)
	}
	saved, err := config.Load(filepath.Join(dir, "loaxa.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if saved.ID != "pole-new" || saved.DataDir != dir || saved.MQTT.Password != "pole-pass" || !console.VerifyPassword(saved.Console.Password, "technician-pass") {
		t.Fatalf("saved %+v", saved)
	}
	if saved.TeleInterval != 60 || len(saved.ZoneNames()) != 4 {
		t.Errorf("keys left out did not take their defaults: %+v", saved)
	}
	if filepath.Dir(saved.MQTT.CAFile) != filepath.Join(dir, "credentials") {
		t.Fatalf("ca_file %q", saved.MQTT.CAFile)
	}
	if got, err := os.ReadFile(saved.MQTT.CAFile); err != nil || !bytes.Equal(got, ca) {
		t.Fatalf("installed CA: %v", err)
	}
	if info, _ := os.Stat(saved.MQTT.CAFile); info.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", info.Mode())
	}
	// The next provisioning without files leaves none behind.
	pruneCredentials(dir, config.Default())
	if _, err := os.Stat(saved.MQTT.CAFile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a file no configuration names was kept: %v", err)
	}
}

// An invalid provisioning document changes nothing on disk, on a running
// agent as on a blank board: no configuration written, no file installed.
func TestInvalidProvisioningChangesNothing(t *testing.T) {
	cert, key := testCert(t, "pole-1")
	_, otherKey := testCert(t, "pole-1")
	tests := []struct {
		name, doc string
		files     map[string][]byte
		want      string
	}{
		{"unknown key", `{"id":"pole-1","mqtt":{"brokr":"tcp://h:1883"}}`, nil, "key mqtt.brokr: no such configuration key"},
		{"wrong type", `{"id":"pole-1","tele_interval":"often"}`, nil, "key tele_interval: must be an integer"},
		{"invalid value", `{"id":"pole-1","mqtt":{"broker":"ftp://h"}}`, nil, "key mqtt.broker"},
		{"no id", `{"groups":[]}`, nil, "key id"},
		{"bad id", `{"id":"Pole 1"}`, nil, "key id"},
		{"other data_dir", `{"id":"pole-1","data_dir":"/elsewhere"}`, nil, "key data_dir: fixed at install"},
		{"newer version", `{"id":"pole-1","version":2}`, nil, "key version"},
		{"pinned id", `{"id":"pole-2"}`, nil, "key id: this agent runs with id set on its command line (pole-1)"},
		{"cert without key", `{"id":"pole-1"}`, map[string][]byte{"mqtt.cert_file": cert}, "cert_file and key_file go together"},
		{"not an object", `[1]`, nil, "JSON object"},
	}
	_ = key
	_ = otherKey
	check := func(t *testing.T, b console.Backend, dir string) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := snapshot(t, dir)
				_, err := b.Provision(context.Background(), console.Provisioning{Config: json.RawMessage(tt.doc), Files: tt.files})
				var we *wire.Error
				if !errors.As(err, &we) || we.Code != wire.CodeBadArgs || !strings.Contains(we.Message, tt.want) {
					t.Fatalf("err %v, want bad_args saying %q", err, tt.want)
				}
				if after := snapshot(t, dir); after != before {
					t.Fatalf("the data directory changed:\n%s\n----\n%s", before, after)
				}
			})
		}
	}
	t.Run("blank board", func(t *testing.T) {
		dir := t.TempDir()
		cfg := config.Default()
		cfg.DataDir = dir
		os.WriteFile(filepath.Join(dir, "loaxa.toml"), []byte("version = 1\n"), 0o600)
		b := NewBlankConsole(BlankOptions{Config: cfg, ConfigPath: filepath.Join(dir, "loaxa.toml"), Why: errors.New("no id"), Pinned: map[string]string{"id": "pole-1"}, Log: quiet})
		check(t, b, dir)
		select {
		case <-b.Restart():
			t.Fatal("a refused provisioning asked for a restart")
		default:
		}
	})
	t.Run("running agent", func(t *testing.T) {
		r := runConsolePole(t, "", func(c *config.Config) { c.ID = "pole-1" }, func(o *Options) { o.Pinned = map[string]string{"id": "pole-1"} })
		// The agent's journals change as it runs; the configuration and
		// the credentials must not.
		cfgDir := t.TempDir()
		r.b.configPath = filepath.Join(cfgDir, "loaxa.toml")
		os.WriteFile(r.b.configPath, []byte("id = \"pole-1\"\n"), 0o600)
		check(t, r.b, cfgDir)
		if _, err := os.Stat(credentialsDir(r.dir)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("credentials were installed: %v", err)
		}
		if _, err := r.b.Provision(context.Background(), console.Provisioning{Config: json.RawMessage(`{"id":"pole-1"}`)}); err != nil {
			t.Fatalf("a good document after the bad ones: %v", err)
		}
	})
}

// The blank board's backend: provision, restart and factory-reset work,
// everything else says why the agent does not run.
func TestBlankConsole(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default()
	cfg.DataDir = dir
	path := filepath.Join(dir, "loaxa.toml")
	b := NewBlankConsole(BlankOptions{Config: cfg, ConfigPath: path, Version: "1.2.3", Why: errors.New(`key id: "" is not a device id`), Log: quiet})
	ctx := context.Background()
	a := ackOf(t, b.Do(ctx, []byte(`{"id":"s1","cmd":"status"}`)))
	if a.code() != "unsupported" || !strings.Contains(a.Error.Message, "key id") || !strings.Contains(a.Error.Message, "provision") || a.ID != "s1" {
		t.Fatalf("status on a blank board: %s", a.raw)
	}
	if _, err := b.TestRelay(ctx, "z1"); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Fatalf("test relay: %v", err)
	}
	bn := b.Banner(ctx)
	if bn.ID != "" || bn.Version != "1.2.3" || bn.Connected || len(bn.Zones) != 4 || !strings.Contains(bn.Link, "key id") {
		t.Fatalf("banner %+v", bn)
	}
	if b.Access().PasswordHash != "" {
		t.Fatal("a blank board has a password")
	}
	rep, err := b.Provision(ctx, console.Provisioning{Config: json.RawMessage(`{"id":"pole-9","mqtt":{"broker":"tcp://10.0.0.1:1883"}}`)})
	if err != nil || rep.ID != "pole-9" || !rep.Restart || !slices.Contains(rep.Changed, "mqtt.broker") {
		t.Fatalf("provision: %+v %v", rep, err)
	}
	select {
	case <-b.Restart():
	default:
		t.Fatal("no restart after provisioning")
	}
	saved, err := config.Load(path)
	if err != nil || saved.ID != "pole-9" || saved.DataDir != dir {
		t.Fatalf("saved %+v, %v", saved, err)
	}
	if bn := b.Banner(ctx); bn.ID != "pole-9" {
		t.Errorf("banner after provisioning: %+v", bn)
	}
	b2 := NewBlankConsole(BlankOptions{Config: cfg, ConfigPath: path, Why: errors.New("x"), Log: quiet})
	if a := ackOf(t, b2.Do(ctx, []byte(`{"id":"r1","cmd":"restart"}`))); !a.OK {
		t.Fatal(a.raw)
	}
	<-b2.Restart()
}

// A factory reset: the configuration back to its defaults (no id, no
// password), the data directory emptied but for the updater's slots, and
// finished at the next start even after a power cut.
func TestFactoryReset(t *testing.T) {
	dir := t.TempDir()
	etc := t.TempDir()
	r := runConsolePole(t, dir, func(c *config.Config) { c.Console.Password = mustHash(t, "technician-pass") }, nil)
	r.b.configPath = filepath.Join(etc, "loaxa.toml")
	cfg := r.cfg.Clone()
	if err := cfg.Save(r.b.configPath); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"credentials/ca-0123456789ab.pem", "media/news.mp3", "ota/slots/a/loaxad", "mqtt-good.json"} {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755)
		os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600)
	}
	if err := r.b.FactoryReset(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := r.wait(); !errors.Is(err, ErrRestart) {
		t.Fatalf("Run returned %v, want ErrRestart", err)
	}
	if _, err := os.Stat(filepath.Join(dir, factoryResetMarker)); err != nil {
		t.Fatalf("no marker: %v", err)
	}
	done, err := FinishFactoryReset(dir, r.b.configPath)
	if !done || err != nil {
		t.Fatalf("finish: %v %v", done, err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"ota"}) {
		t.Errorf("left in the data directory: %v", names)
	}
	if _, err := os.Stat(filepath.Join(dir, "ota/slots/a/loaxad")); err != nil {
		t.Errorf("the firmware slot went: %v", err)
	}
	c, err := config.Load(r.b.configPath)
	if err != nil || c.ID != "" || c.Console.Password != "" || c.DataDir != dir {
		t.Fatalf("configuration after the reset: %+v %v", c, err)
	}
	if done, err := FinishFactoryReset(dir, r.b.configPath); done || err != nil {
		t.Errorf("a second start reset again: %v %v", done, err)
	}
}

func mustHash(t *testing.T, pw string) string {
	t.Helper()
	h, err := console.HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Console events are durable events of their own: a provisioning run's
// commands are each recorded, not folded into one.
func TestConsoleEventsAreRecordedPerCommand(t *testing.T) {
	r := runConsolePole(t, "", nil, nil)
	cmds := []string{"banner", "login", "provision", "test.relay", "test.tone", "test.modem", "test.broker", "ping"}
	for _, c := range cmds {
		r.Report(console.EventCommand, map[string]any{"cmd": c, "form": "json", "ok": true, "port": "pty"})
	}
	r.Report(console.EventSession, map[string]any{"state": "start", "port": "pty"})
	var got []string
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < len(cmds)+1 && time.Now().Before(deadline) {
		for _, m := range r.published() {
			var ev wire.Event
			if m.Topic == r.topics.Event() && json.Unmarshal(m.Payload, &ev) == nil && strings.HasPrefix(ev.Type, "console.") {
				got = append(got, fmt.Sprint(ev.Data["cmd"], ev.Data["state"]))
			}
		}
		time.Sleep(time.Millisecond)
	}
	if len(got) != len(cmds)+1 {
		t.Fatalf("console events published: %q", got)
	}
}
