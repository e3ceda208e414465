// Package ladder is the pure policy of a pole's audio output: the priority
// ladder that decides which play request is on air, which wait and which
// are refused (Queue), and the sequencer that brings an item on air and
// takes it off without a click or a pop (Sequencer): amplifier warm-up,
// relay settling, fades, the device playing out its buffer, the
// amplifier's hold time.
//
// Neither type reads a clock, does I/O or starts a goroutine. Every method
// takes the time as an argument; the Sequencer answers with Effects (power
// the amplifier, move relays, start or fade the player, arm a timer) that
// the agent's owner goroutine carries out in order. So the whole order of a
// play can be checked by a table test without a sound device or a relay,
// and a week of audio timing takes microseconds to test.
package ladder
