// Package hal defines the small interfaces through which the agent drives the
// pole's hardware: relay outputs (speaker zones and amplifier power), digital
// inputs (cabinet door, mains sense, amplifier fault), the board itself
// (reboot, CPU temperature), the system clock's synchronisation (SyncClock:
// a schedule must not play at a wrong hour) and the 4G modem (Modem: its
// readings, radio and reset). The audio output is an audio.Sink, defined in
// package audio.
//
// Like periph's conn packages, hal holds only interfaces and value types. Real
// backends live in sub-packages: hal/gpio (periph.io), hal/board (Linux:
// reboot, thermal zone, adjtimex), hal/modem (AT commands over a serial
// port) and hal/portaudio (the loudspeaker output); the sim package
// implements the same interfaces for tests and demos.
//
// A backend that does not find its part on the board returns an error that
// wraps ErrAbsent, so the agent can run degraded and say so, and tells that
// apart from a part that is present but failed.
package hal
