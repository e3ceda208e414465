package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"

	"github.com/loaxa/loaxa/agent/config"
	"github.com/loaxa/loaxa/agent/console"
	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/internal/clock"
)

// BlankOptions configure a BlankConsole.
type BlankOptions struct {
	// Config is the configuration as loaded; its id may be missing.
	Config *config.Config
	// ConfigPath is where provisioning saves the configuration.
	ConfigPath string
	Version    string
	// Why says why no agent runs ("starting", or why it cannot start).
	Why error
	// Pinned are the keys set on the command line (see Options.Pinned).
	Pinned map[string]string
	Clock  clock.Clock
	Log    *slog.Logger
}

// BlankConsole is the console's Backend while no agent runs: before it
// has started, and on a board where it cannot (a blank board has no device
// id; hardware may have failed). It provisions the pole, factory-resets
// it, and restarts; every other command is answered with an error saying
// why the agent is not running. Restart is closed when the daemon must
// start again (after provisioning, a reset or `restart`). Its methods are
// called from the console's goroutine; SetWhy from any.
type BlankConsole struct {
	opts    BlankOptions
	clk     clock.Clock
	log     *slog.Logger
	restart chan struct{}
	once    sync.Once

	mu  sync.Mutex // guards why and cfg
	why error
	cfg *config.Config
}

// NewBlankConsole returns the backend of a pole whose agent does not run.
func NewBlankConsole(o BlankOptions) *BlankConsole {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &BlankConsole{opts: o, clk: o.Clock, log: o.Log, restart: make(chan struct{}), why: o.Why, cfg: o.Config}
}

// Restart is closed when the daemon must start again.
func (b *BlankConsole) Restart() <-chan struct{} { return b.restart }

// SetWhy changes the reason the banner and the errors give.
func (b *BlankConsole) SetWhy(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.why = err
}

func (b *BlankConsole) state() (*config.Config, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cfg, b.why
}

func (b *BlankConsole) requestRestart() { b.once.Do(func() { close(b.restart) }) }

// notRunning is the error of everything a blank board cannot do.
func (b *BlankConsole) notRunning() *wire.Error {
	_, why := b.state()
	return wire.Errf(wire.CodeUnsupported, "the agent is not running (%v); provision this pole first (`provision {...}` here, or `loaxactl provision` from a laptop)", why)
}

// Do answers `restart`, and refuses every other command.
func (b *BlankConsole) Do(ctx context.Context, doc []byte) []byte {
	now := b.clk.Now()
	c, derr := wire.Decode(doc, now)
	if derr != nil {
		return failedAck(doc, derr, now)
	}
	if c.Cmd == "restart" {
		if e := wire.DecodeArgs(c.Args, &struct{}{}); e != nil {
			return failedAck(doc, e, now)
		}
		b.log.Info("restart requested on the console")
		b.requestRestart()
		out, _ := json.Marshal(wire.Ack{ID: c.ID, Cmd: c.Cmd, OK: true, Result: map[string]any{"restarting": true}, TS: now.UnixMilli()})
		return out
	}
	return failedAck(doc, b.notRunning(), now)
}

// Banner describes the board from its configuration file.
func (b *BlankConsole) Banner(ctx context.Context) console.Banner {
	cfg, why := b.state()
	zones := map[string]bool{}
	for _, z := range cfg.ZoneNames() {
		zones[z] = false // not driven: nothing has switched them
	}
	return console.Banner{
		ID: cfg.ID, Version: b.opts.Version, Broker: redactAll(cfg.MQTT.AllBrokers()),
		Link: fmt.Sprintf("the agent is not running: %v", why), Zones: zones, Alarms: []wire.Alarm{},
		NotRunning: true,
	}
}

// Access is the console section of the configuration file.
func (b *BlankConsole) Access() console.Access {
	cfg, _ := b.state()
	return cfg.Console.Access()
}

// TestRelay needs the agent.
func (b *BlankConsole) TestRelay(ctx context.Context, name string) (console.TestReport, error) {
	return console.TestReport{}, b.notRunning()
}

// TestTone needs the agent.
func (b *BlankConsole) TestTone(ctx context.Context) (console.TestReport, error) {
	return console.TestReport{}, b.notRunning()
}

// TestModem needs the agent.
func (b *BlankConsole) TestModem(ctx context.Context) (console.TestReport, error) {
	return console.TestReport{}, b.notRunning()
}

// TestBroker needs the agent.
func (b *BlankConsole) TestBroker(ctx context.Context) (console.TestReport, error) {
	return console.TestReport{}, b.notRunning()
}

// Provision checks, installs and saves the configuration as a running
// agent does, then asks for the restart that starts the agent with it.
func (b *BlankConsole) Provision(ctx context.Context, p console.Provisioning) (console.ProvisionReport, error) {
	cur, _ := b.state()
	next, err := prepareProvision(cur, p, b.opts.Pinned)
	if err != nil {
		return console.ProvisionReport{}, err
	}
	if err := installCredentials(next, p.Files); err != nil {
		return console.ProvisionReport{}, err
	}
	changed, err := commitProvision(b.opts.ConfigPath, cur, next)
	if err != nil {
		pruneCredentials(cur.DataDir, cur)
		return console.ProvisionReport{}, err
	}
	b.mu.Lock()
	b.cfg = next
	b.mu.Unlock()
	pruneCredentials(next.DataDir, next)
	b.log.Info("provisioned on the console; restarting", "id", next.ID, "keys", changed)
	// Restart even when nothing changed: the agent is not running, and
	// the technician expects it to after provisioning.
	b.requestRestart()
	return console.ProvisionReport{ID: next.ID, Changed: changed, ConfigHash: next.Hash(), Restart: true}, nil
}

// FactoryReset marks the data directory for a reset and restarts.
func (b *BlankConsole) FactoryReset(ctx context.Context) error {
	cfg, _ := b.state()
	if err := beginFactoryReset(cfg.DataDir, b.opts.ConfigPath); err != nil {
		return err
	}
	b.log.Warn("factory reset requested on the console: restarting to carry it out")
	b.requestRestart()
	return nil
}
