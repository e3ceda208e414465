package supervisor

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/loaxa/loaxa/internal/clock"
	"github.com/loaxa/loaxa/ota"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) { removeBuilds() }))
}

var t0 = time.Date(2025, 11, 25, 10, 0, 0, 0, time.UTC)

// behaviour is a fake agent: it runs until it returns its exit status.
// term ends on SIGTERM/SIGINT; killed is closed by SIGKILL (a fake that
// ignores term must still return on killed).
type behaviour func(term context.Context, killed <-chan struct{}, c *Conn) int

// world starts fake agents in-process: the slot's version picks the
// behaviour, which may differ from one start to the next.
type world struct {
	t     *testing.T
	mu    sync.Mutex // guards the fields below
	by    map[string][]behaviour
	runs  map[string]int
	log   []started
	sigs  []os.Signal
	wg    sync.WaitGroup
	alive int
}

type started struct {
	info ota.BootInfo
	args []string
}

func newWorld(t *testing.T) *world {
	w := &world{t: t, by: map[string][]behaviour{}, runs: map[string]int{}}
	t.Cleanup(w.wg.Wait)
	return w
}

// on sets what version does at its successive starts; the last one
// repeats.
func (w *world) on(version string, bs ...behaviour) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.by[version] = bs
}

func (w *world) starts() []started {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]started(nil), w.log...)
}

// startedVersions says what started, e.g. "v1.2.0 v1.3.0(trial) v1.2.0".
func (w *world) startedVersions() string {
	var parts []string
	for _, s := range w.starts() {
		v := s.info.Version
		if s.info.Trial {
			v += "(trial)"
		}
		parts = append(parts, v)
	}
	return strings.Join(parts, " ")
}

func (w *world) start(spec ChildSpec) (Child, error) {
	var e envInfo
	for _, kv := range spec.Env {
		if v, ok := strings.CutPrefix(kv, EnvInfo+"="); ok {
			if err := json.Unmarshal([]byte(v), &e); err != nil {
				w.t.Errorf("bad %s: %v", EnvInfo, err)
			}
		}
	}
	c, err := NewConn(spec.Ctl, e.BootInfo)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	bs := w.by[e.Version]
	n := w.runs[e.Version]
	w.runs[e.Version]++
	w.log = append(w.log, started{info: c.Info(), args: spec.Args})
	w.alive++
	w.mu.Unlock()
	if len(bs) == 0 {
		w.t.Errorf("no behaviour for %s", e.Version)
		bs = []behaviour{crash}
	}
	b := bs[min(n, len(bs)-1)]
	term, stop := context.WithCancel(context.Background())
	fc := &fakeChild{w: w, stop: stop, killed: make(chan struct{}), done: make(chan ExitStatus, 1)}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		code := b(term, fc.killed, c)
		c.Close()
		stop()
		w.mu.Lock()
		w.alive--
		w.mu.Unlock()
		select {
		case <-fc.killed:
			fc.done <- ExitStatus{Code: -1, Signal: "killed"}
		default:
			fc.done <- ExitStatus{Code: code}
		}
	}()
	return fc, nil
}

type fakeChild struct {
	w        *world
	stop     context.CancelFunc
	killOnce sync.Once
	killed   chan struct{}
	done     chan ExitStatus
}

func (f *fakeChild) Signal(s os.Signal) error {
	f.w.mu.Lock()
	f.w.sigs = append(f.w.sigs, s)
	f.w.mu.Unlock()
	f.stop()
	return nil
}

func (f *fakeChild) Kill() error {
	f.killOnce.Do(func() { close(f.killed) })
	return nil
}

func (f *fakeChild) Wait() ExitStatus { return <-f.done }

// statusTold counts status reports the supervisor has taken.
var statusTold atomic.Int32

// Behaviours.
var (
	// good reports healthy and runs until stopped.
	good behaviour = func(term context.Context, killed <-chan struct{}, c *Conn) int {
		c.ReportHealthy(term)
		select {
		case <-term.Done():
		case <-killed:
		}
		return 0
	}
	// crash exits at once.
	crash behaviour = func(context.Context, <-chan struct{}, *Conn) int { return 3 }
	// hang ignores SIGTERM and never reports.
	hang behaviour = func(_ context.Context, killed <-chan struct{}, _ *Conn) int {
		<-killed
		return -1
	}
	// noBroker runs but never connects.
	noBroker behaviour = func(term context.Context, killed <-chan struct{}, c *Conn) int {
		if c.ReportStatus(term, "broker not connected") == nil {
			statusTold.Add(1)
		}
		select {
		case <-term.Done():
		case <-killed:
		}
		return 0
	}
	// crashAfterHealthy reports healthy, then dies.
	crashAfterHealthy behaviour = func(term context.Context, _ <-chan struct{}, c *Conn) int {
		c.ReportHealthy(term)
		return 4
	}
	// asksSwitch is an agent that installed a release: healthy, then it
	// exits asking for the switch.
	asksSwitch behaviour = func(term context.Context, _ <-chan struct{}, c *Conn) int {
		c.ReportHealthy(term)
		return ExitSwitch
	}
	// restarts asks for a restart.
	restarts behaviour = func(context.Context, <-chan struct{}, *Conn) int { return ExitRestart }
)

// pole is a data directory with slots, and a supervisor to run on it.
type pole struct {
	t      *testing.T
	dir    string
	l      ota.Layout
	w      *world
	clk    *clock.Fake
	self   string
	opts   func(*Options)
	cancel context.CancelFunc
	done   chan error
}

func newPole(t *testing.T) *pole {
	p := &pole{t: t, dir: t.TempDir(), w: newWorld(t), clk: clock.NewFake(t0)}
	p.l = ota.NewLayout(p.dir)
	p.self = p.dir + "/loaxad-installed"
	os.WriteFile(p.self, []byte("factory binary v1.0.0"), 0o755)
	return p
}

// slot writes a slot holding version (as an "ota" slot without a
// signature: these tests give the supervisor no keys).
func (p *pole) slot(slot, version string) {
	p.t.Helper()
	os.MkdirAll(p.l.SlotDir(slot), 0o755)
	body := []byte("binary of " + version)
	if err := os.WriteFile(p.l.Binary(slot), body, 0o755); err != nil {
		p.t.Fatal(err)
	}
	size, sum, _ := ota.HashFile(p.l.Binary(slot))
	if err := p.l.WriteSlotInfo(slot, &ota.SlotInfo{Version: version, Size: size, SHA256: sum, Origin: ota.OriginOTA}); err != nil {
		p.t.Fatal(err)
	}
}

// committed writes a boot document with slot active committed.
func (p *pole) committed(slot string) {
	p.t.Helper()
	if err := (FileStore{Path: p.l.BootDoc()}).Save(Boot{Active: slot}); err != nil {
		p.t.Fatal(err)
	}
}

func (p *pole) options() Options {
	o := Options{
		DataDir: p.dir, Args: []string{"--config", "/etc/loaxa/loaxa.toml"}, Env: []string{"HOME=/root"},
		Self: p.self, Version: "v1.0.0", Trial: 2 * time.Minute, CrashLoopExits: 3, CrashLoopWindow: 10 * time.Minute,
		RestartBase: time.Second, RestartMax: 4 * time.Second, StopGrace: 15 * time.Second,
		Clock: p.clk, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Start: p.w.start,
	}
	if p.opts != nil {
		p.opts(&o)
	}
	return o
}

// run starts the supervisor in the background.
func (p *pole) run() {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel, p.done = cancel, make(chan error, 1)
	o := p.options()
	go func() { p.done <- Run(ctx, o) }()
	p.t.Cleanup(func() {
		if p.cancel != nil {
			p.cancel()
			<-p.done
		}
	})
}

// stop stops the supervisor as systemd would and returns Run's error.
func (p *pole) stop() error {
	p.t.Helper()
	p.cancel()
	select {
	case err := <-p.done:
		p.cancel = nil
		return err
	case <-time.After(20 * time.Second):
		p.t.Fatal("the supervisor did not stop")
		return nil
	}
}

func (p *pole) boot() Boot {
	p.t.Helper()
	b, err := FileStore{Path: p.l.BootDoc()}.Load()
	if err != nil {
		p.t.Fatal(err)
	}
	return b
}

// waitStarts waits until n agents have started and the supervisor has
// armed timers timers (its trial, grace or backoff timer), so that
// advancing the clock is what the test means and nothing else.
func (p *pole) waitStarts(n, timers int) {
	p.t.Helper()
	waitFor(p.t, "starts and timers", func() bool {
		return len(p.w.starts()) >= n && p.clk.Waiters() == timers
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func logKinds(b Boot) string {
	var parts []string
	for _, e := range b.Log {
		s := e.Kind
		if e.Reason != "" {
			s += ":" + e.Reason
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

type osSignal = os.Signal

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o755) }
