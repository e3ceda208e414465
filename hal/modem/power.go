package modem

import (
	"context"
	"errors"
	"fmt"

	"time"

	"github.com/loaxa/loaxa/hal"
	"github.com/loaxa/loaxa/internal/clock"
)

// PowerCycle cuts the modem's supply for offFor through a relay and
// restores it: the last resort of the watchdog for a modem that no longer
// answers AT+CFUN=1,1. The relay is wired so that released means powered
// (its normally-closed contact in the supply line): energising cuts the
// power, and the safe state of every output, released, keeps the modem
// running. The supply is restored even when ctx ends early.
func PowerCycle(ctx context.Context, clk clock.Clock, relay hal.Output, offFor time.Duration) error {
	if clk == nil {
		clk = clock.Real{}
	}
	if err := relay.Set(true); err != nil {
		return fmt.Errorf("modem: power cycle: cut the supply with %s: %w", relay, err)
	}
	t := clk.NewTimer(offFor)
	var waitErr error
	select {
	case <-t.C():
	case <-ctx.Done():
		waitErr = fmt.Errorf("modem: power cycle cut short: %w", ctx.Err())
	}
	t.Stop()
	if err := relay.Set(false); err != nil {
		return errors.Join(waitErr, fmt.Errorf("modem: power cycle: restore the supply with %s: %w", relay, err))
	}
	return waitErr
}
