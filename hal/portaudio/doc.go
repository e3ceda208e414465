// Package portaudio is the real loudspeaker output: an audio.Sink on
// PortAudio's blocking stream API (github.com/gordonklaus/portaudio over
// libportaudio, ALSA on the pole). On JACK, whose PortAudio blocking layer
// is a queue behind a callback that Go can only reach through a cgo call
// per look and per write, the Sink opens a callback stream of its own
// instead: a C callback copies from a queue in C memory that Write fills
// without a cgo call (ring.go).
//
// Open picks the output device by name ("" is PortAudio's default output
// device; otherwise an exact name, or a fragment that names exactly one
// output device, such as "hw:1,0"), opens a 16-bit stream in the
// requested format and starts it on the first Write. Write blocks while
// the device's buffer is full, which is what paces the whole pipeline.
// Drain waits until everything written has been heard and stops the
// stream, so the pause before the next item is not counted as an
// underrun; Underruns counts the output underflows PortAudio reports (on
// JACK, the periods the callback found the queue short mid-play). On JACK
// a write or a drain that sees no sample taken for 2 s fails: the server
// stopped, and the stream is left open, since PortAudio's stop would wait
// for it (see ErrWedged).
//
// A host with no audio output at all (PortAudio cannot initialise, lists
// no output device, or the configured device is not there, e.g. a USB
// sound card unplugged) gets an error wrapping hal.ErrAbsent, so the
// agent runs degraded and says so; a device that is there but refuses the
// stream is an ordinary error.
//
// State: each Sink initialises PortAudio when it opens and terminates it
// when it closes; PortAudio counts these calls itself, so sinks come and
// go independently. Neither PortAudio nor its Go binding serialise that
// initialisation or the device list they cache process-wide, so this
// package holds one mutex around them: the only package-level state, and
// forced by the C library.
//
// Built without cgo, Open always returns an error wrapping hal.ErrAbsent.
package portaudio
