package watchdog_test

import (
	"fmt"
	"time"

	"github.com/loaxa/loaxa/agent/watchdog"
)

// The owner (the agent's loop) evaluates the ladder when the link changes
// and at each Decision.Next, carries out the step, and publishes the
// records once the link is back.
func ExampleLadder() {
	l, err := watchdog.New(watchdog.Config{
		Reconnect: 2 * time.Minute, Radio: 5 * time.Minute, ModemReset: 15 * time.Minute,
		Reboot: time.Hour, MaxRebootsPerDay: 3,
	})
	if err != nil {
		panic(err)
	}
	down := time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC)
	now := down
	d := l.Evaluate(watchdog.Input{Now: now, DownSince: down})
	for d.Step != watchdog.StepModemReset {
		now = d.Next
		d = l.Evaluate(watchdog.Input{Now: now, DownSince: down})
		fmt.Printf("%v after the link went down: %v\n", now.Sub(down), d.Step)
	}
	// The link is back 20 minutes after it went down.
	d = l.Evaluate(watchdog.Input{Now: down.Add(20 * time.Minute)})
	for _, r := range d.Report {
		fmt.Printf("watchdog.step %s at +%v\n", r.Step, r.At.Sub(r.DownSince))
	}
	// Output:
	// 2m0s after the link went down: reconnect
	// 5m0s after the link went down: radio_cycle
	// 15m0s after the link went down: modem_reset
	// watchdog.step reconnect at +2m0s
	// watchdog.step radio_cycle at +5m0s
	// watchdog.step modem_reset at +15m0s
}
