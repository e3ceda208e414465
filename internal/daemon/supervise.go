package daemon

import (
	"context"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/loaxa/loaxa/agent/config"
	"github.com/loaxa/loaxa/ota"
	"github.com/loaxa/loaxa/ota/supervisor"
)

// ExitSwitch is Main's status when an installed release asks the
// supervisor to switch to it (supervisor.ExitSwitch).
const ExitSwitch = supervisor.ExitSwitch

// Supervised reports whether this process was started by `loaxad
// supervise`: its restarts are then the supervisor's to do.
func Supervised() bool { return os.Getenv(supervisor.EnvInfo) != "" }

// Supervise runs `loaxad supervise FLAGS`: the supervisor that systemd
// starts. It takes loaxad's own flags, reads from the configuration only
// what it needs (data_dir and the ota section), and runs the active slot's
// loaxad with the same flags as its child until ctx ends. self is the
// binary installed as the first slot of an empty data directory (the
// running executable). It returns the process's exit status.
func Supervise(ctx context.Context, args []string, version, self string, stdout, stderr io.Writer) int {
	f, code, done := parseOrExit("loaxad supervise", args, version, stdout, stderr)
	if done {
		return code
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	cfg, _, err := LoadConfig(f)
	if err != nil {
		// The agent will say what is wrong (and exit); the supervisor still
		// runs it, so that a configuration only a new release refuses
		// falls back to the release that accepted it (crash loop).
		log.Error("configuration unusable; supervising with the defaults of the ota section", "err", err)
		cfg = config.Default()
		if f.DataDir != "" {
			cfg.DataDir = f.DataDir
		}
	}
	keys, err := cfg.OTA.Validate()
	if err != nil {
		log.Error("ota keys unusable; slots are checked by their SHA-256 only", "err", err)
		keys, cfg.OTA = nil, ota.DefaultConfig()
	}
	if len(keys) == 0 {
		log.Warn("no ota.keys: over-the-air updates are refused (set them in the configuration)")
	}
	err = supervisor.Run(ctx, supervisor.Options{
		DataDir:         cfg.DataDir,
		Args:            args,
		Self:            self,
		Version:         version,
		Keys:            keys,
		Trial:           time.Duration(cfg.OTA.TrialS) * time.Second,
		CrashLoopExits:  cfg.OTA.CrashLoopExits,
		CrashLoopWindow: time.Duration(cfg.OTA.CrashLoopWindowS) * time.Second,
		Log:             log,
		Notify:          sdNotify(log),
		Stdout:          stdout,
		Stderr:          stderr,
	})
	if err != nil {
		log.Error("supervisor", "err", err)
		return 1
	}
	return 0
}
