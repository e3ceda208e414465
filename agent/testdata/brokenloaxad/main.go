// Command brokenloaxad stands in for a release of loaxad that is broken,
// in the over-the-air update tests of package agent. Its behaviour is
// fixed at build time, since the supervisor starts every release with the
// same arguments and environment:
//
//	-X main.version=v1.1.0   the version it is
//	-X main.mode=crash       exits 3 at once, before reporting healthy
//	-X main.mode=hang        never reports healthy, never answers; the
//	                         supervisor's SIGTERM ends it (one that ignores
//	                         SIGTERM too, killed after the grace, is in
//	                         ota/supervisor's tests: it costs 15 s more)
//	-X main.mode=noconnect   the real agent (internal/daemon.Main), pointed
//	                         at a broker that refuses every connection
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/loaxa/loaxa/internal/daemon"
)

var (
	version = "v0.0.0"
	mode    = "crash"
)

func main() {
	switch mode {
	case "crash":
		fmt.Fprintln(os.Stderr, "brokenloaxad", version, "crashes at start")
		os.Exit(3)
	case "hang":
		fmt.Fprintln(os.Stderr, "brokenloaxad", version, "hangs")
		for {
			time.Sleep(time.Hour)
		}
	case "noconnect":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		// Flags given twice: the last wins. Port 1 on loopback refuses.
		args := append(os.Args[1:], "--broker", "tcp://127.0.0.1:1")
		code := daemon.Main(ctx, args, version, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	fmt.Fprintln(os.Stderr, "brokenloaxad: unknown mode", mode)
	os.Exit(2)
}
