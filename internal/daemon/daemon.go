package daemon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/loaxa/loaxa/agent"
	"github.com/loaxa/loaxa/agent/config"
	"github.com/loaxa/loaxa/audio/live"
	"github.com/loaxa/loaxa/audio/player"
	"github.com/loaxa/loaxa/hal"
	"github.com/loaxa/loaxa/hal/board"
	"github.com/loaxa/loaxa/hal/gpio"
	"github.com/loaxa/loaxa/internal/broker"
	"github.com/loaxa/loaxa/internal/clock"
	"github.com/loaxa/loaxa/sim"
)

// Flags are loaxad's command-line flags; set ones override the config file.
type Flags struct {
	Config  string
	Sim     bool
	Broker  string
	ID      string
	DataDir string
	// Console is the serial console's device; it overrides console.port.
	Console string
	Version bool
}

// ParseFlags parses args (without the program name).
func ParseFlags(args []string, stderr io.Writer) (Flags, error) {
	var f Flags
	fs := flag.NewFlagSet("loaxad", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.Config, "config", "", "configuration file (TOML); default DATA_DIR/loaxa.toml if it exists")
	fs.BoolVar(&f.Sim, "sim", false, "use simulated hardware (files under DATA_DIR/sim)")
	fs.StringVar(&f.Broker, "broker", "", "MQTT broker: tcp://HOST:PORT, tls://HOST:PORT, or embedded (in-process broker on 127.0.0.1:1883)")
	fs.StringVar(&f.ID, "id", "", "device id (3-64 chars of a-z, 0-9, '-')")
	fs.StringVar(&f.DataDir, "data-dir", "", "directory for state, logs and media")
	fs.StringVar(&f.Console, "console", "", "serial console device for the technician, e.g. /dev/ttyAMA0 or /dev/ttyGS0 (overrides console.port)")
	fs.BoolVar(&f.Version, "version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: loaxad [flags]\n       loaxad supervise [flags]\n\nThe loaxa pole agent. Flags override the configuration file.\n`supervise` runs the agent under the over-the-air update supervisor\n(what the systemd unit does), with the same flags.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return f, nil
}

// LoadConfig resolves the configuration: defaults, then the file, then the
// flags. It returns the path config.set saves to.
func LoadConfig(f Flags) (*config.Config, string, error) {
	cfg := config.Default()
	// Without --config the file lives in the data directory; it is
	// created by the first config.set (or provisioning).
	path, mustExist := configPath(f), f.Config != ""
	if _, err := os.Stat(path); mustExist || err == nil {
		c, err := config.Load(path)
		if err != nil {
			return nil, "", err
		}
		cfg = c
	}
	if f.DataDir != "" {
		cfg.DataDir = f.DataDir
	}
	if f.Broker != "" {
		cfg.MQTT.Broker = f.Broker
	}
	if f.ID != "" {
		cfg.ID = f.ID
	}
	if f.Console != "" {
		cfg.Console.Port = f.Console
	}
	if cfg.ID == "" && f.Sim && cfg.Console.Port == "" {
		// A simulated pole without a console has no other way to get an
		// id; with one it is a blank board waiting to be provisioned.
		cfg.ID = "sim-pole"
	}
	if err := cfg.Validate(); err != nil {
		return nil, "", fmt.Errorf("configuration: %w", err)
	}
	return cfg, path, nil
}

// Hardware opens the pole's parts. Missing parts are not fatal: the agent
// runs degraded and reports them (missing maps part to reason).
func Hardware(cfg *config.Config, useSim bool, clk clock.Clock) (hw *hal.Hardware, simHW *sim.Hardware, missing map[string]string, err error) {
	missing = map[string]string{}
	if useSim {
		simHW, err = sim.NewHardware(filepath.Join(cfg.DataDir, "sim"), cfg.Hardware.Layout, clk)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("simulated hardware: %w", err)
		}
		return simHW.HAL(), simHW, missing, nil
	}
	hw, err = gpio.Open(cfg.Hardware.Layout)
	if err != nil {
		if !errors.Is(err, hal.ErrAbsent) {
			return nil, nil, nil, fmt.Errorf("gpio: %w", err)
		}
		// No GPIO here (wrong board, or not a Pi): keep running so the
		// operator can still reach the pole and see what is wrong.
		missing["gpio"] = err.Error()
		hw = &hal.Hardware{Zones: map[string][]hal.Output{}, Inputs: map[string]hal.Input{}}
	}
	b := board.New()
	if _, terr := b.CPUTemp(); errors.Is(terr, hal.ErrAbsent) {
		missing["thermal"] = terr.Error()
	}
	hw.Board = b
	hw.Clock = b
	return hw, nil, missing, nil
}

// parseOrExit parses loaxad's flags; done means the process ends now with
// code: -h, --version, or a usage error (said on stderr as prog's).
func parseOrExit(prog string, args []string, version string, stdout, stderr io.Writer) (f Flags, code int, done bool) {
	f, err := ParseFlags(args, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return f, 0, true
	case err != nil:
		fmt.Fprintln(stderr, prog+":", err)
		return f, 2, true
	case f.Version:
		fmt.Fprintln(stdout, "loaxad", version)
		return f, 0, true
	}
	return f, 0, false
}

// Main runs loaxad with args and returns the exit status. It returns
// ExitRestart when the operator asked for a restart, ExitSwitch when an
// installed release asks the supervisor to switch to it.
func Main(ctx context.Context, args []string, version string, stdout, stderr io.Writer) int {
	f, code, done := parseOrExit("loaxad", args, version, stdout, stderr)
	if done {
		return code
	}
	cfg, cfgPath, loadErr := loadAndReset(f, stderr)
	if cfg == nil {
		fmt.Fprintln(stderr, "loaxad:", loadErr)
		return 2
	}
	level := new(slog.LevelVar)
	level.Set(parseLevel(cfg.LogLevel))
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		log.Error("cannot create the data directory", "data_dir", cfg.DataDir, "err", err)
		return 1
	}
	pinned := pinnedKeys(f)
	host, err := startConsole(cfg, cfgPath, version, pinned, log)
	if err != nil {
		log.Error("no serial console", "err", err)
	}
	defer host.Close()
	notify := sdNotify(log)
	// With a console, what stops the agent leaves the process up for it:
	// the technician can see why and provision the pole again.
	fail := func(what string, err error) int {
		log.Error(what, "err", err)
		if host != nil {
			return host.serveBlank(ctx, fmt.Errorf("%s: %w", what, err), notify)
		}
		return 1
	}
	if loadErr != nil {
		if host == nil {
			fmt.Fprintln(stderr, "loaxad:", loadErr)
			return 2
		}
		return fail("configuration", loadErr)
	}
	if cfg.MQTT.Broker == "embedded" {
		b, err := broker.Start(agent.EmbeddedAddr, log)
		if err != nil {
			return fail("cannot start the embedded broker", err)
		}
		defer b.Close()
		log.Info("embedded MQTT broker listening", "addr", b.Addr())
	}
	clk := clock.System{} // tickers on a timerfd: fewer wake-ups on every pole
	hw, simHW, missing, err := Hardware(cfg, f.Sim, clk)
	if err != nil {
		return fail("hardware", err)
	}
	if simHW != nil {
		defer simHW.Close()
	}
	// The modem outlives the agent's poller: halted once Run returned.
	modem := Modem(cfg, f.Sim, clk, log)
	defer modem.Close()
	maps.Copy(missing, modem.Missing)
	// The hub exists before the agent that publishes its events.
	var agentRef atomic.Pointer[agent.Agent]
	onLive := func(e live.Event) {
		data := map[string]any{"channel": e.Channel}
		if e.Err != nil {
			data["error"] = e.Err.Error()
		}
		if e.Count > 0 {
			data["count"] = e.Count
		}
		if a := agentRef.Load(); a != nil {
			a.Report("live."+string(e.Kind), data)
		}
	}
	touch := func(name string) {
		if a := agentRef.Load(); a != nil {
			a.TouchMedia(name)
		}
	}
	parts, audioMissing, err := Audio(cfg, f.Sim, clk, log, onLive, touch)
	if err != nil {
		return fail("audio", err)
	}
	if audioMissing != "" {
		missing["audio"] = audioMissing
	}
	var pl agent.Player // nil (not a nil *player.Player) when the pole has no output
	if parts.Sink != nil {
		defer parts.Sink.Close()
		p, err := player.New(player.Options{Sink: parts.Sink, Clock: clk, Log: log.With("component", "player")})
		if err != nil {
			return fail("audio player", err)
		}
		pl = p
	}
	var liveSink agent.LiveSink
	if parts.Hub != nil {
		liveSink = parts.Hub
	}
	a, err := agent.New(agent.Options{
		Player:      pl,
		OpenSource:  parts.Open,
		Live:        liveSink,
		Modem:       modem.Modem,
		ModemPower:  modem.Power,
		Device:      parts.Device,
		Config:      cfg,
		ConfigPath:  cfgPath,
		Hardware:    hw,
		Missing:     missing,
		Clock:       clk,
		Log:         log,
		Version:     version,
		Notify:      notify,
		SetLogLevel: func(l string) { level.Set(parseLevel(l)) },
		Pinned:      pinned,
	})
	if err != nil {
		if cfg.ID == "" && host != nil {
			log.Info("no device id: a blank board, waiting to be provisioned on the console")
			return host.serveBlank(ctx, errors.New("a blank board: no device id yet"), notify)
		}
		return fail("cannot start the agent", err)
	}
	agentRef.Store(a)
	blankRestart, err := runAgent(ctx, a, host)
	if errors.Is(err, agent.ErrRestart) || blankRestart {
		return ExitRestart
	}
	if errors.Is(err, agent.ErrSwitch) {
		return ExitSwitch
	}
	if err != nil {
		log.Error("agent stopped", "err", err)
		return 1
	}
	return 0
}

// ExitRestart is Main's status when the agent must be started again.
const ExitRestart = 75

func parseLevel(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo
	}
	return l
}

// sdNotify returns a notifier for systemd, or nil when not under systemd.
func sdNotify(log *slog.Logger) func(string) {
	if os.Getenv("NOTIFY_SOCKET") == "" {
		return nil
	}
	return func(state string) {
		if _, err := daemon.SdNotify(false, state); err != nil {
			log.Debug("sd_notify", "err", err)
		}
	}
}
