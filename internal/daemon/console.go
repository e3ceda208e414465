package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loaxa/loaxa/agent"
	"github.com/loaxa/loaxa/agent/config"
	"github.com/loaxa/loaxa/agent/console"
	"github.com/loaxa/loaxa/internal/atomicfile"
	"github.com/loaxa/loaxa/internal/clock"
)

// consoleHost is the technician's console for the daemon's whole life. It
// starts before the agent can (a blank board has no device id, and a
// broken part must not take the console with it) and hands every call to
// the backend in force: a BlankConsole until the agent runs, the agent's
// own after. Close it before the process re-executes itself.
type consoleHost struct {
	srv     *console.Server
	blank   *agent.BlankConsole
	log     *slog.Logger
	clk     clock.Clock
	dataDir string
	cur     atomic.Pointer[backendRef]

	mu sync.Mutex // guards agent and pending
	// agent receives the console's events while it runs; before, they
	// wait in pending (and in a file across a restart), so the operator
	// also learns of the session that provisioned a blank board.
	agent   *agent.Agent
	pending []pendingEvent
}

// pendingEvent is a console event that happened while no agent ran.
type pendingEvent struct {
	Type string         `json:"type"`
	Data map[string]any `json:"data"`
	At   int64          `json:"at"` // ms since the epoch
}

// maxPendingEvents bounds the events kept while no agent runs: a
// provisioning session makes about fifteen.
const maxPendingEvents = 64

// pendingFile keeps the pending events across a restart of the daemon.
func pendingFile(dataDir string) string { return filepath.Join(dataDir, "console-events.json") }

type backendRef struct{ console.Backend }

// startConsole serves the console on port (cfg.Console.Port, which the
// --console flag overrides), or returns nil when there is none.
func startConsole(cfg *config.Config, cfgPath, version string, pinned map[string]string, log *slog.Logger) (*consoleHost, error) {
	port := cfg.Console.Port
	if port == "" {
		return nil, nil
	}
	h := &consoleHost{log: log.With("component", "console"), clk: clock.Real{}, dataDir: cfg.DataDir}
	h.loadPending()
	h.blank = agent.NewBlankConsole(agent.BlankOptions{
		Config: cfg, ConfigPath: cfgPath, Version: version, Pinned: pinned,
		Why: errors.New("the agent is starting"), Log: h.log,
	})
	h.cur.Store(&backendRef{h.blank})
	srv, err := console.New(console.Options{
		Backend: h, Open: console.SerialOpener(port, cfg.Console.Baud), Name: port,
		Log: h.log, Event: h.event, IsSecret: config.IsSecret,
	})
	if err != nil {
		return nil, err
	}
	h.srv = srv
	srv.Start()
	h.log.Info("serial console", "port", port, "baud", cfg.Console.Baud)
	return h, nil
}

// Close stops the console; its last output is flushed first (bounded).
// Events no agent could send are saved for the next start.
func (h *consoleHost) Close() {
	if h == nil {
		return
	}
	h.srv.Close()
	h.savePending()
}

// attach hands the console to a running agent, with the events that
// waited for one; detach takes it back, with the reason the agent is not
// running.
func (h *consoleHost) attach(a *agent.Agent) {
	h.mu.Lock()
	h.agent = a
	pending := h.pending
	h.pending = nil
	h.mu.Unlock()
	for _, e := range pending {
		e.Data["at"] = e.At
		a.Report(e.Type, e.Data)
	}
	h.cur.Store(&backendRef{a.ConsoleBackend()})
}

func (h *consoleHost) detach(why error) {
	h.blank.SetWhy(why)
	h.cur.Store(&backendRef{h.blank})
	h.mu.Lock()
	h.agent = nil
	h.mu.Unlock()
}

// restart is closed when the blank backend asks for a restart.
func (h *consoleHost) restart() <-chan struct{} {
	if h == nil {
		return nil
	}
	return h.blank.Restart()
}

// event records a console event through the agent, or keeps it until an
// agent runs.
func (h *consoleHost) event(typ string, data map[string]any) {
	h.mu.Lock()
	a := h.agent
	if a == nil {
		if len(h.pending) < maxPendingEvents {
			h.pending = append(h.pending, pendingEvent{Type: typ, Data: data, At: h.clk.Now().UnixMilli()})
		}
		h.mu.Unlock()
		h.log.Info("console event", "type", typ, "data", data)
		return
	}
	h.mu.Unlock()
	a.Report(typ, data)
}

// loadPending takes the events a previous run could not send.
func (h *consoleHost) loadPending() {
	path := pendingFile(h.dataDir)
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	var events []pendingEvent
	if err := json.Unmarshal(b, &events); err != nil {
		h.log.Warn("console events of the last run are unreadable; dropped", "file", path, "err", err)
	}
	for _, e := range events {
		if len(h.pending) < maxPendingEvents && e.Type != "" && e.Data != nil {
			h.pending = append(h.pending, e)
		}
	}
	if err := os.Remove(path); err != nil {
		h.log.Warn("console events of the last run", "err", err)
	}
}

// savePending keeps the events no agent sent for the next start.
func (h *consoleHost) savePending() {
	h.mu.Lock()
	events := h.pending
	h.mu.Unlock()
	if len(events) == 0 {
		return
	}
	b, err := json.Marshal(events)
	if err == nil {
		_, err = atomicfile.WriteFile(pendingFile(h.dataDir), b, 0o600)
	}
	if err != nil {
		h.log.Warn("cannot keep the console's events for the next start", "err", err)
	}
}

// serveBlank keeps the process up for the console when the agent cannot
// run: it reports ready and alive to systemd (which would otherwise kill
// and restart it, and the console with it, every few seconds) and waits
// for the end or for a restart asked on the console.
func (h *consoleHost) serveBlank(ctx context.Context, why error, notify func(string)) int {
	h.detach(why)
	h.log.Error("the agent is not running; the console waits for a technician", "why", why)
	if notify == nil {
		notify = func(string) {}
	}
	notify("READY=1")
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			notify("STOPPING=1")
			return 0
		case <-h.blank.Restart():
			notify("STOPPING=1")
			return ExitRestart
		case <-t.C:
			notify("WATCHDOG=1")
		}
	}
}

func (h *consoleHost) backend() console.Backend { return h.cur.Load().Backend }

// Do is console.Backend's, handed to the backend in force.
func (h *consoleHost) Do(ctx context.Context, doc []byte) []byte { return h.backend().Do(ctx, doc) }

// Banner is console.Backend's, handed to the backend in force.
func (h *consoleHost) Banner(ctx context.Context) console.Banner { return h.backend().Banner(ctx) }

// Access is console.Backend's, handed to the backend in force.
func (h *consoleHost) Access() console.Access { return h.backend().Access() }

// TestRelay is console.Backend's, handed to the backend in force.
func (h *consoleHost) TestRelay(ctx context.Context, name string) (console.TestReport, error) {
	return h.backend().TestRelay(ctx, name)
}

// TestTone is console.Backend's, handed to the backend in force.
func (h *consoleHost) TestTone(ctx context.Context) (console.TestReport, error) {
	return h.backend().TestTone(ctx)
}

// TestModem is console.Backend's, handed to the backend in force.
func (h *consoleHost) TestModem(ctx context.Context) (console.TestReport, error) {
	return h.backend().TestModem(ctx)
}

// TestBroker is console.Backend's, handed to the backend in force.
func (h *consoleHost) TestBroker(ctx context.Context) (console.TestReport, error) {
	return h.backend().TestBroker(ctx)
}

// Provision is console.Backend's, handed to the backend in force.
func (h *consoleHost) Provision(ctx context.Context, p console.Provisioning) (console.ProvisionReport, error) {
	return h.backend().Provision(ctx, p)
}

// FactoryReset is console.Backend's, handed to the backend in force.
func (h *consoleHost) FactoryReset(ctx context.Context) error { return h.backend().FactoryReset(ctx) }

// loadAndReset loads the configuration and finishes a factory reset the
// console asked for (before anything opens the data directory). When the
// file is broken and a console is named on the command line, cfg is the
// default configuration (with the flags) and err says what is wrong: the
// console then lets a technician provision the pole again. cfg is nil
// when nothing can run.
func loadAndReset(f Flags, stderr io.Writer) (cfg *config.Config, path string, err error) {
	load := func() (*config.Config, string, error) {
		cfg, path, err := LoadConfig(f)
		if err != nil && f.Console != "" {
			return rescueConfig(f), configPath(f), err
		}
		return cfg, path, err
	}
	cfg, path, err = load()
	if cfg == nil {
		return nil, "", err
	}
	done, rerr := agent.FinishFactoryReset(cfg.DataDir, path)
	if rerr != nil {
		fmt.Fprintln(stderr, "loaxad:", rerr)
	}
	if done {
		fmt.Fprintln(stderr, "loaxad: factory reset done: the configuration and the data directory are back to their defaults")
		cfg, path, err = load()
	}
	return cfg, path, err
}

// configPath is where LoadConfig reads (and config.set saves) the file.
func configPath(f Flags) string {
	if f.Config != "" {
		return f.Config
	}
	dir := f.DataDir
	if dir == "" {
		dir = config.Default().DataDir
	}
	return filepath.Join(dir, "loaxa.toml")
}

// rescueConfig is the default configuration with the flags applied, for a
// console on a pole whose file cannot be read.
func rescueConfig(f Flags) *config.Config {
	cfg := config.Default()
	if f.DataDir != "" {
		cfg.DataDir = f.DataDir
	}
	if f.Broker != "" {
		cfg.MQTT.Broker = f.Broker
	}
	cfg.ID = f.ID
	cfg.Console.Port = f.Console
	return cfg
}

// pinnedKeys are the configuration keys the flags set at every start.
func pinnedKeys(f Flags) map[string]string {
	pinned := map[string]string{}
	if f.ID != "" {
		pinned["id"] = f.ID
	}
	if f.Broker != "" {
		pinned["mqtt.broker"] = f.Broker
	}
	return pinned
}

// runAgent runs the agent with the console attached. A provisioning that
// went through the blank backend while the agent was being built (the
// console starts first) restarts the process too: blankRestart.
func runAgent(ctx context.Context, a *agent.Agent, host *consoleHost) (blankRestart bool, err error) {
	if host == nil {
		return false, a.Run(ctx)
	}
	host.attach(a)
	defer host.detach(errors.New("the agent stopped"))
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	watched := make(chan bool, 1)
	go func() {
		select {
		case <-host.restart():
			stop()
			watched <- true
		case <-runCtx.Done():
			watched <- false
		}
	}()
	err = a.Run(runCtx)
	stop()
	return <-watched, err
}
