package supervisor

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/loaxa/loaxa/internal/backoff"
	"github.com/loaxa/loaxa/internal/clock"
	"github.com/loaxa/loaxa/ota"
)

// Options configure the supervisor. Zero values mean the defaults given.
type Options struct {
	// DataDir is the agent's data directory; the slots and boot.json live
	// in DataDir/ota. Required.
	DataDir string
	// Args are the agent's arguments: loaxad's own, without "supervise".
	Args []string
	// Env is the agent's environment; nil: os.Environ(). EnvInfo is set
	// on top of it.
	Env []string
	// Self is the binary installed as the first slot of an empty data
	// directory, and the last resort when no slot can run (os.Executable()).
	// Version is its version. Required.
	Self    string
	Version string
	// Keys are ota.keys from the configuration; slots are verified with
	// ota.LoadTrustedKeys(layout, Keys). Empty: only the slots' SHA-256
	// is checked.
	Keys []ota.PublicKey
	// Trial is how long a new version has to report healthy when its
	// manifest does not say (0: ota.DefaultTrialS).
	Trial time.Duration
	// MaxTrialStarts is how many times a trial may be started (power cuts,
	// supervisor restarts) before it counts as failed (0: 2).
	MaxTrialStarts int
	// CrashLoopExits unexpected exits of a committed version within
	// CrashLoopWindow make the supervisor fall back to the other slot
	// (0: ota.DefaultCrashLoopExits and ota.DefaultCrashLoopWindowS).
	CrashLoopExits  int
	CrashLoopWindow time.Duration
	// RestartBase and RestartMax bound the full-jitter backoff between
	// restarts of a crashing agent (0: 1 s and 20 s: below the unit's
	// WatchdogSec, and the supervisor pings the watchdog before waiting).
	RestartBase, RestartMax time.Duration
	// StopGrace is how long a child has to exit after SIGTERM before it is
	// killed (0: 15 s, under the unit's TimeoutStopSec).
	StopGrace time.Duration
	// Signals, when set, are forwarded to the child as they are (SIGTERM,
	// SIGINT); the supervisor then stops once the child has exited. ctx
	// ending does the same with SIGTERM.
	Signals <-chan os.Signal
	// Clock and Log; nil: clock.Real and slog.Default.
	Clock clock.Clock
	Log   *slog.Logger
	// Notify sends a systemd notification ("READY=1", "WATCHDOG=1",
	// "STATUS=..."); nil: none.
	Notify func(state string)
	// Start starts a child; nil: StartProcess(Stdout, Stderr).
	Start          StartFunc
	Stdout, Stderr io.Writer
	// Store keeps boot.json; nil: a FileStore in DataDir/ota.
	Store Store
	// Hook is for crash tests: called with "boot:EVENT" right after each
	// decision is persisted. nil in production.
	Hook func(point string)
}

// Run supervises the agent until ctx ends (or a forwarded signal stops
// it): it starts the active slot, runs new versions on trial, commits or
// rolls them back, and falls back from a crash loop. It returns nil after
// a clean stop, or an error when the data directory cannot be used at all.
func Run(ctx context.Context, o Options) error {
	s, err := newSupervisor(o)
	if err != nil {
		return err
	}
	if err := s.init(); err != nil {
		return err
	}
	for {
		if ctx.Err() != nil || s.stopping {
			return nil
		}
		spec := s.pick()
		out := s.runChild(ctx, spec)
		if s.stopping {
			s.log.Info("agent stopped", "slot", spec.slot, "version", spec.version, "exit", out.exit.String())
			return nil
		}
		s.decide(ctx, spec, out)
	}
}

type supervisor struct {
	o         Options
	l         ota.Layout
	store     Store
	log       *slog.Logger
	clock     clock.Clock
	boot      Boot
	bo        *backoff.Backoff
	stopping  bool
	ready     bool
	restarted bool // the next trial start is a restart the agent asked for, not a new attempt
}

func newSupervisor(o Options) (*supervisor, error) {
	if o.DataDir == "" || o.Self == "" {
		return nil, errors.New("supervisor: DataDir and Self are required")
	}
	if o.Env == nil {
		o.Env = os.Environ()
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Trial == 0 {
		o.Trial = ota.DefaultTrialS * time.Second
	}
	if o.MaxTrialStarts == 0 {
		o.MaxTrialStarts = 2
	}
	if o.CrashLoopExits == 0 {
		o.CrashLoopExits = ota.DefaultCrashLoopExits
	}
	if o.CrashLoopWindow == 0 {
		o.CrashLoopWindow = ota.DefaultCrashLoopWindowS * time.Second
	}
	if o.RestartBase == 0 {
		o.RestartBase = time.Second
	}
	if o.RestartMax == 0 {
		o.RestartMax = 20 * time.Second
	}
	if o.StopGrace == 0 {
		o.StopGrace = 15 * time.Second
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	if o.Start == nil {
		o.Start = StartProcess(o.Stdout, o.Stderr)
	}
	l := ota.NewLayout(o.DataDir)
	if o.Store == nil {
		o.Store = FileStore{Path: l.BootDoc()}
	}
	return &supervisor{
		o: o, l: l, store: o.Store, log: o.Log.With("component", "supervisor"), clock: o.Clock,
		bo: backoff.New(o.RestartBase, o.RestartMax, o.Clock, nil),
	}, nil
}

func (s *supervisor) save() error { return s.store.Save(s.boot) }

func (s *supervisor) saveLogged() {
	if err := s.save(); err != nil {
		s.log.Error("cannot persist the boot document", "err", err)
	}
}

func (s *supervisor) now() int64 { return s.clock.Now().UnixMilli() }

func (s *supervisor) notify(state string) {
	if s.o.Notify != nil {
		s.o.Notify(state)
	}
}

func (s *supervisor) hook(point string) {
	if s.o.Hook != nil {
		s.o.Hook("boot:" + point)
	}
}
