// Package health holds the board-health policies the agent applies to
// what its parts report, and the one reading it needs from the OS:
//
//   - Thermal: the CPU temperature's level (normal, warning, critical) with
//     hysteresis, and the volume cap at critical;
//   - ModemAlarms: the modem.no_sim, modem.unregistered,
//     modem.unresponsive and modem.weak_signal alarms from the modem's
//     readings, each with the delay or hysteresis that keeps a flapping
//     modem from flooding the link;
//   - DiskSpace: free space on the data partition (statfs), and DiskLow,
//     the alarm policy for it.
//
// The policies are pure (no clock, no I/O, no goroutine): the owner passes
// the time and the readings, and diffs the active alarms it gets back
// against those it reported, as it does for its input alarms.
package health
