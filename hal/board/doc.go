// Package board is the hal.Board of a Linux single-board computer: the SoC
// temperature from the kernel's thermal zone and a clean reboot through
// systemd. Paths and commands are fields, so tests (and boards that differ
// from the Raspberry Pi) can point them elsewhere.
package board
