// Package tone generates sine test tones: the tone:HZ source of the play
// command (a technician's "can I hear the speakers?") and the reference
// signal of audio tests, whose frequency and level are checked after the
// whole chain.
package tone
