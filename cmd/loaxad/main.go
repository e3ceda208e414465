package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/loaxa/loaxa/internal/daemon"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if os.Getenv("GOMAXPROCS") == "" {
		// One processor for Go code: the agent is a handful of goroutines
		// that wake about 25 times a second to feed the speaker, and with
		// more processors each wake-up also wakes an idle one's thread to
		// look for work. That cost about a quarter of the CPU spent per
		// second of audio (docs/benchmarks.md, "Audio CPU"). Blocking
		// calls (cgo, system calls) still get threads of their own. The
		// environment's GOMAXPROCS, when set, wins.
		runtime.GOMAXPROCS(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if len(os.Args) > 1 && os.Args[1] == "supervise" {
		// What systemd runs: the supervisor, which runs this same binary
		// (or an installed release) as the agent.
		self, err := os.Executable()
		if err != nil {
			fmt.Fprintln(os.Stderr, "loaxad supervise: cannot find its own binary:", err)
			os.Exit(1)
		}
		code := daemon.Supervise(ctx, os.Args[2:], version, self, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	code := daemon.Main(ctx, os.Args[1:], version, os.Stdout, os.Stderr)
	stop()
	if code == daemon.ExitRestart && !daemon.Supervised() {
		// Re-execute in place: same PID, so systemd's watchdog and a
		// terminal session alike keep following the agent. Under the
		// supervisor the exit status asks it to start the agent again.
		exe, err := os.Executable()
		if err == nil {
			err = syscall.Exec(exe, os.Args, os.Environ())
		}
		fmt.Fprintln(os.Stderr, "loaxad: restart failed:", err)
		os.Exit(1)
	}
	os.Exit(code)
}
