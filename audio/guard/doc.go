// Package guard keeps an audio device that stops answering from stopping
// the pole: a Sink wraps the real output (PortAudio) and gives every call
// into it a deadline.
//
// A sound card can wedge: a USB card unplugged or hung, a JACK server that
// went away. PortAudio's blocking write then never returns, and whoever
// called it (the player, and through it the agent's shutdown) waits for
// ever. Issue 7's finding 7 saw a process that SIGTERM could no longer end.
//
// Every Write, Drain and Close of the device runs on a worker goroutine of
// that device; the caller waits for it at most a deadline derived from the
// block and the device buffer (the longest of Options.MinDeadline, 50
// blocks and 4 device buffers). Past it the device is declared failed: the
// call returns an error wrapping ErrFailed, later calls fail at once, and
// the Sink reopens the device in the background with a full-jitter backoff
// (internal/backoff). A reopened device must play a block of silence and
// drain it within the deadline before it is used; then Status reports the
// device healthy again. A device call that returns an error is a failure
// too, handled the same way.
//
// # Abandoned calls
//
// A call stuck inside C cannot be cancelled: Go cannot interrupt a thread
// blocked in the driver. Its worker goroutine is abandoned, with the copy
// of the samples it was given: if the driver ever returns, the worker
// closes that device and ends. Each one costs a goroutine, an OS thread
// and the driver's state, so at most Options.MaxAbandoned may be stuck at
// once; when that many are, the Sink stops reopening the device (every new
// attempt could wedge another thread) and says so in its error: restarting
// the process is then the only cure. Each abandonment is logged.
//
// # Health
//
// Status returns the current failure (nil when the device works), how
// many failures there were, and a channel closed at the next change, so
// the agent can raise and clear its audio.device alarm without polling
// and without a callback into its state.
//
// # Goroutines
//
// Write, Drain and Close are called by one goroutine (the player's); Status,
// Underruns, Latency, Abandoned, String and Format by any. Open starts one
// goroutine that reopens the device after a failure, and each device has
// one worker; Close stops them and waits for them, except for abandoned
// workers, which cannot be waited for.
package guard
