package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// The first Ctrl-C ends a watch cleanly and interrupts a send.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// Once it has, restore the default handling so a second Ctrl-C kills
	// a loaxactl that is stuck (e.g. in a broker disconnect). The goroutine
	// ends with ctx, which stop() below also ends.
	go func() {
		<-ctx.Done()
		stop()
	}()
	code := Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
