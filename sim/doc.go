// Package sim emulates the pole's hardware — zone and amplifier relays,
// sense inputs, the board, the loudspeakers — behind the same hal and audio
// interfaces as the real backends. loaxad --sim runs on it, CI tests the
// agent with it, and a fleet simulator (which will live in sim/fleet) will
// run many poles on it in one process: so it is cheap, starts no goroutines
// and keeps no package-level state.
//
// Outputs latch like real GPIO lines: the level survives an agent restart
// (it is kept in DIR/gpio.json), so a restart that sets the level a relay
// already has records no transition, and a test can prove that a restart
// makes no click on the speaker lines. With a directory, the simulated
// hardware is also observable and controllable from outside the process.
// loaxad --sim uses DATA_DIR/sim as DIR and exposes:
//
//	DIR/gpio.json          latched level of every output pin
//	DIR/transitions.jsonl  one JSON line per relay transition
//	DIR/inputs/NAME        "1" (asserted) or "0", e.g. DIR/inputs/tamper
//	DIR/temp               CPU temperature in °C, overrides SetTemp
//	DIR/reboots.jsonl      one JSON line per reboot request
//	DIR/speaker.wav        what the speakers play (AudioSink, SpeakerFile),
//	                       replaced at start; past AudioSinkOptions.MaxFileBytes
//	                       (512 MiB, about 46 minutes, by default) it is renamed
//	                       speaker.1.wav and a new recording starts
package sim
