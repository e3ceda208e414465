// Package player feeds the sink. One goroutine (Run) writes PCM blocks to the
// sink, which paces it; sources are read by a goroutine per item into a short
// prefetch queue, so a stalled network read never stops the output nor delays
// a stop (an emergency must be able to cut in at once).
//
// The player does not decide what plays: the agent's arbiter does, and tells
// the player to Play, Stop, Mute and Unmute. The player reports back through
// Events: when an item's first sample reached the sink, when it ended, when a
// fade to silence is complete (the moment relays may switch).
package player
