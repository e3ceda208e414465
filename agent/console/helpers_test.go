package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/internal/clock"
	"github.com/loaxa/loaxa/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitTimeout bounds every wait of these tests: a failure bound for a
// broken test, not a timing assertion.
const waitTimeout = 10 * time.Second

var t0 = time.Date(2025, 11, 25, 10, 0, 0, 0, time.UTC)

// testPassword and testHash: a hash with the fewest iterations allowed, so
// that the many logins of these tests stay quick.
const testPassword = "correct-horse"

var testHash = func() string {
	h, err := hashWith(testPassword, MinIterations)
	if err != nil {
		panic(err)
	}
	return h
}()

// fakeBackend is a working stand-in for the agent: it records every call,
// answers protocol commands with acks shaped like the agent's, and keeps
// zones and volume so that commands have visible effects.
type fakeBackend struct {
	mu      sync.Mutex // guards everything below
	calls   []string
	docs    []wire.Command
	access  Access
	banner  Banner
	zones   map[string]bool
	volume  int
	provs   []Provisioning
	resets  int
	failing map[string]error // test name ("relay z1", "modem", ...) → error
	provErr error
}

func newFakeBackend() *fakeBackend {
	return &fakeBackend{
		banner: Banner{ID: "pole-1", Version: "1.2.3", Broker: "tcp://127.0.0.1:1883", IMEI: "866123456789012", ICCID: "8984041234567890123"},
		zones:  map[string]bool{"z1": false, "z2": false},
		volume: 50, failing: map[string]error{},
	}
}

func (f *fakeBackend) record(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, s)
}

func (f *fakeBackend) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeBackend) Docs() []wire.Command {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]wire.Command(nil), f.docs...)
}

func (f *fakeBackend) setAccess(a Access) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.access = a
}

func (f *fakeBackend) Do(ctx context.Context, doc []byte) []byte {
	c, derr := wire.Decode(doc, t0)
	if derr != nil {
		b, _ := json.Marshal(wire.Ack{ID: derr.ID, Error: derr})
		return b
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "do "+c.Cmd)
	f.docs = append(f.docs, *c)
	ack := wire.Ack{ID: c.ID, Cmd: c.Cmd, OK: true, TS: t0.UnixMilli()}
	fail := func(e *wire.Error) { ack.OK, ack.Error = false, e }
	switch c.Cmd {
	case "ping":
		ack.Result = map[string]any{"version": "1.2.3", "uptime_s": 42}
	case "status":
		ack.Result = map[string]any{"id": "pole-1", "zones": f.zones, "volume": f.volume}
	case "zones":
		var a zonesArgs
		if e := wire.DecodeArgs(c.Args, &a); e != nil {
			fail(e)
			break
		}
		for _, z := range append(append([]string{}, a.On...), a.Off...) {
			if _, ok := f.zones[z]; !ok {
				fail(wire.Errf(wire.CodeBadArgs, "unknown zone %q", z))
			}
		}
		if ack.Error != nil {
			break
		}
		for _, z := range a.On {
			f.zones[z] = true
		}
		for _, z := range a.Off {
			f.zones[z] = false
		}
		if a.All != nil {
			for z := range f.zones {
				f.zones[z] = *a.All
			}
		}
		ack.Result = map[string]any{"zones": f.zones}
	case "volume":
		var a struct {
			Level int `json:"level"`
		}
		if e := wire.DecodeArgs(c.Args, &a); e != nil {
			fail(e)
		} else if a.Level < 0 || a.Level > 100 {
			fail(wire.Errf(wire.CodeBadArgs, "level must be 0..100, got %d", a.Level))
		} else {
			f.volume = a.Level
			ack.Result = map[string]any{"volume": a.Level}
		}
	case "config.get":
		ack.Result = map[string]any{"values": map[string]any{"mqtt.broker": "tcp://127.0.0.1:1883"}, "secrets_set": []string{}}
	case "config.set":
		var a struct {
			Values map[string]json.RawMessage `json:"values"`
		}
		json.Unmarshal(c.Args, &a)
		keys := []string{}
		for k := range a.Values {
			keys = append(keys, k)
		}
		ack.Result = map[string]any{"changed": keys}
	case "play", "stop", "restart", "reboot", "log.get":
		ack.Result = map[string]any{"args": json.RawMessage(orEmpty(c.Args))}
	default:
		fail(wire.Errf(wire.CodeUnknownCommand, "unknown command %q", c.Cmd))
	}
	b, err := json.MarshalIndent(ack, "", "  ") // several lines: the console must make it one
	if err != nil {
		panic(err)
	}
	return b
}

type zonesArgs struct {
	On  []string `json:"on"`
	Off []string `json:"off"`
	All *bool    `json:"all"`
}

func orEmpty(b []byte) []byte {
	if len(b) == 0 {
		return []byte("{}")
	}
	return b
}

func (f *fakeBackend) Banner(ctx context.Context) Banner {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.banner
	b.Zones = map[string]bool{}
	for k, v := range f.zones {
		b.Zones[k] = v
	}
	return b
}

func (f *fakeBackend) Access() Access {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.access
}

func (f *fakeBackend) test(part string) (TestReport, error) {
	f.record("test " + part)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.failing[part]; err != nil {
		return TestReport{}, err
	}
	return TestReport{Detail: part + " worked", Values: map[string]any{"part": part}}, nil
}

func (f *fakeBackend) TestRelay(ctx context.Context, name string) (TestReport, error) {
	return f.test("relay " + name)
}
func (f *fakeBackend) TestTone(ctx context.Context) (TestReport, error)   { return f.test("tone") }
func (f *fakeBackend) TestModem(ctx context.Context) (TestReport, error)  { return f.test("modem") }
func (f *fakeBackend) TestBroker(ctx context.Context) (TestReport, error) { return f.test("broker") }

func (f *fakeBackend) Provision(ctx context.Context, p Provisioning) (ProvisionReport, error) {
	f.record("provision")
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.provErr != nil {
		return ProvisionReport{}, f.provErr
	}
	f.provs = append(f.provs, p)
	var cfg struct {
		ID      string `json:"id"`
		Console struct {
			Password string `json:"password"`
		} `json:"console"`
	}
	if err := json.Unmarshal(p.Config, &cfg); err != nil {
		return ProvisionReport{}, wire.Errf(wire.CodeBadArgs, "config: %v", err)
	}
	f.banner.ID = cfg.ID
	if cfg.Console.Password != "" {
		f.access.PasswordHash = cfg.Console.Password
	}
	return ProvisionReport{ID: cfg.ID, Changed: []string{"id", "mqtt.broker"}, Restart: true}, nil
}

func (f *fakeBackend) FactoryReset(ctx context.Context) error {
	f.record("factory-reset")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resets++
	f.access = Access{}
	return nil
}

// events records what the console reported.
type events struct {
	mu  sync.Mutex // guards evs
	evs []recorded
}

type recorded struct {
	Type string
	Data map[string]any
}

func (e *events) add(typ string, data map[string]any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.evs = append(e.evs, recorded{typ, data})
}

func (e *events) all() []recorded {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]recorded(nil), e.evs...)
}

// find returns the events of typ whose data has every key of match.
func (e *events) find(typ string, match map[string]any) []recorded {
	var out []recorded
	for _, ev := range e.all() {
		if ev.Type != typ {
			continue
		}
		ok := true
		for k, v := range match {
			if fmt.Sprint(ev.Data[k]) != fmt.Sprint(v) {
				ok = false
			}
		}
		if ok {
			out = append(out, ev)
		}
	}
	return out
}

// term is the technician's end of the cable: it types, and reads what the
// console answers from a mark on, so each expectation sees new output only.
type term struct {
	t    *testing.T
	w    io.Writer
	out  *testenv.Buffer
	mark int
}

func (tm *term) typ(s string) {
	tm.t.Helper()
	if _, err := tm.w.Write([]byte(s)); err != nil {
		tm.t.Fatalf("type %q: %v", s, err)
	}
}

// expect waits until want appears after the mark, moves the mark past it,
// and returns the output up to it.
func (tm *term) expect(want string) string {
	tm.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		all := tm.out.String()
		if i := strings.Index(all[tm.mark:], want); i >= 0 {
			got := all[tm.mark : tm.mark+i+len(want)]
			tm.mark += i + len(want)
			return got
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("no %q in the console's output; after the mark:\n%s", want, all[tm.mark:])
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// rest returns the output after the mark without waiting.
func (tm *term) rest() string { return tm.out.String()[tm.mark:] }

// pipePort is one end of an in-memory cable.
type pipePort struct {
	r *io.PipeReader
	w *io.PipeWriter
}

func (p *pipePort) Read(b []byte) (int, error)  { return p.r.Read(b) }
func (p *pipePort) Write(b []byte) (int, error) { return p.w.Write(b) }
func (p *pipePort) Close() error {
	p.r.Close()
	p.w.Close()
	return nil
}

// rig is a console on an in-memory cable with a fake clock.
type rig struct {
	t   *testing.T
	be  *fakeBackend
	ev  *events
	clk *clock.Fake
	srv *Server
	*term
	board *pipePort
}

func newRig(t *testing.T, be *fakeBackend) *rig {
	t.Helper()
	if be == nil {
		be = newFakeBackend()
	}
	toBoard, fromTech := io.Pipe()
	fromBoard, toTech := io.Pipe()
	board := &pipePort{r: toBoard, w: toTech}
	r := &rig{t: t, be: be, ev: &events{}, clk: clock.NewFake(t0), board: board}
	r.term = &term{t: t, w: fromTech, out: &testenv.Buffer{}}
	opened := false
	var mu sync.Mutex // guards opened
	srv, err := New(Options{
		Backend: be, Name: "test", Clock: r.clk, Event: r.ev.add,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Open: func(ctx context.Context) (io.ReadWriteCloser, error) {
			mu.Lock()
			defer mu.Unlock()
			if opened {
				return nil, errors.New("the in-memory cable opens once")
			}
			opened = true
			return board, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.iter = MinIterations
	r.srv = srv
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		_, _ = io.Copy(r.term.out, fromBoard)
	}()
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		fromTech.Close()
		fromBoard.Close()
		<-readDone
	})
	r.expect("type `help` for the commands")
	r.expect("pole-1")
	return r
}

// login logs in with the test password.
func (r *rig) login() {
	r.t.Helper()
	r.typ("login\r")
	r.expect("password: ")
	r.typ(testPassword + "\r")
	r.expect("logged in")
	r.expect("pole-1# ")
}
