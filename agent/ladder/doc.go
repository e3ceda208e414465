// Package ladder is the pure policy of a pole's audio output: the priority
// ladder that decides which play request is on air, which wait and which
// are refused (Queue, bounded by audio.queue_max: past it an offer is
// Full), and the sequencer that brings an item on air and
// takes it off without a click or a pop (Sequencer): amplifier warm-up,
// relay settling, fades, the device playing out its buffer, the
// amplifier's hold time.
//
// Neither type reads a clock, does I/O or starts a goroutine. Every method
// takes the time as an argument; the Sequencer answers with Effects (power
// the amplifier, move relays, start or fade the player, arm a timer) that
// the agent's owner goroutine carries out in order (agent/output.go), and
// the owner feeds back what the player and its timers report. An Item is
// one play request from its command (or scheduled occurrence) until it is
// logged: the ladder reads its level, origin and window, the sequencer its
// zones, and the rest is the agent's, carried along. So the whole order of a
// play can be checked by a table test without a sound device or a relay,
// and a week of audio timing takes microseconds to test.
package ladder
