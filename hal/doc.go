// Package hal defines the small interfaces through which the agent drives the
// pole's hardware: relay outputs (speaker zones and amplifier power), digital
// inputs (cabinet door, mains sense), and the board itself (reboot, CPU
// temperature).
//
// Like periph's conn packages, hal holds only interfaces and value types. Real
// backends live in sub-packages (hal/gpio on periph.io, hal/board on Linux
// sysfs); the sim package implements the same interfaces for tests and demos.
//
// A backend that does not find its part on the board returns an error that
// wraps ErrAbsent, so the agent can run degraded and say so, and tells that
// apart from a part that is present but failed.
package hal
