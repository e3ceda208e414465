package player

import "fmt"

// outputFailed handles a write the sink refused (a device that failed or
// got stuck: see audio/guard). The item on air cannot be heard, so it ends
// with the error, and the agent reports it failed and moves on, rather
// than leave it "playing" with the amplifier on while the device is away.
// A stop already fading out completes as a stop.
func (s *state) outputFailed(err error) {
	s.p.opts.Log.Error("audio output failed", "sink", s.p.opts.Sink.String(), "err", err)
	c := s.cur
	if c == nil {
		return
	}
	if c.stopping {
		s.finish(Stopped, nil)
		return
	}
	s.finish(Ended, fmt.Errorf("audio output: %w", err))
}
