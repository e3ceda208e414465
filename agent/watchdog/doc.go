// Package watchdog is the connectivity watchdog's policy: when the broker
// has been unreachable for configured times, which step to take to bring
// the pole back without a truck — reconnect, cycle the modem's radio,
// reset the modem, reboot the board (at most N times a day, never while an
// emergency or live item plays or an update runs).
//
// The package is pure: no I/O, no clock, no goroutine. Its owner (the
// agent's loop) feeds a Ladder the time, when the link went down and what
// is playing, carries out the step it returns, and publishes the records
// it hands back, as watchdog.step events, once the link is back. Every
// step at its time, the reboot limit over a day and the holds are table
// tests with a fake clock.
package watchdog
