// Package gpio drives the pole's relays and reads its sense lines through
// periph.io: the real backend of the hal interfaces on a Raspberry-Pi-class
// board.
//
// Open looks every configured pin up by name (e.g. "GPIO17"). A host without
// those lines (an amd64 CI machine, a board without a GPIO driver) gets an
// error wrapping hal.ErrAbsent, so the agent can run without relays and say
// so; a line that exists but cannot be configured is an ordinary error.
//
// Outputs never touch their line before the first Set: the first level the
// relay board sees is the one the agent chose, which is what makes an agent
// restart with power_on = "restore" silent on the speaker lines.
package gpio
