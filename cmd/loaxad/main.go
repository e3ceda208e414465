package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/loaxa/loaxa/internal/daemon"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := daemon.Main(ctx, os.Args[1:], version, os.Stdout, os.Stderr)
	stop()
	if code == daemon.ExitRestart {
		// Re-execute in place: same PID, so systemd's watchdog and a
		// terminal session alike keep following the agent.
		exe, err := os.Executable()
		if err == nil {
			err = syscall.Exec(exe, os.Args, os.Environ())
		}
		fmt.Fprintln(os.Stderr, "loaxad: restart failed:", err)
		os.Exit(1)
	}
	os.Exit(code)
}
