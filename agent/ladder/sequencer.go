package ladder

import (
	"maps"
	"slices"
	"time"
)

// State is where the output sequence stands.
type State int

// The sequencer's states.
const (
	// Idle: no item is on air; the amplifier may be on hold.
	Idle State = iota
	// Warming: the amplifier was just powered; its warm-up runs.
	Warming
	// Settling: zone relays just switched; their contacts settle.
	Settling
	// Playing: the player has the item.
	Playing
	// Stopping: the player fades the item out.
	Stopping
	// Muting: the player fades to silence so relays can switch mid-item.
	Muting
	// Resettle: relays switched mid-item; they settle before the fade in.
	Resettle
	// Draining: the device plays out audio it holds before relays move.
	Draining
)

var stateNames = []string{"idle", "warming", "settling", "playing", "stopping", "muting", "resettle", "draining"}

func (s State) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return "state(?)"
	}
	return stateNames[s]
}

// Timings are the delays of the sequence.
type Timings struct {
	// Warmup is the wait between amplifier power-on and the zone relays.
	Warmup time.Duration
	// Settle is the wait between a relay switching and audio through it.
	Settle time.Duration
	// Fade is the fade-in and fade-out time of items.
	Fade time.Duration
	// Hold keeps the amplifier on after the last item, so back-to-back
	// items do not power-cycle it.
	Hold time.Duration
	// Drain is how long audio written to the device takes to be heard (its
	// buffer plus one block): relays wait that long after the last sample.
	Drain time.Duration
}

// Effect is something the owner goroutine must do, in order.
type Effect interface{ isEffect() }

// SetAmp powers the amplifier on or off.
type SetAmp struct{ On bool }

// SetRelays switches zone relays; Zones lists only those that move, in
// zone-name order. The output is silent when it is emitted.
type SetRelays struct{ Zones []Relay }

// Relay is one zone relay and its new level.
type Relay struct {
	Zone string
	On   bool
}

// Play hands the item to the player (fading in over Fade).
type Play struct{ Item *Item }

// FadeOut has the player fade the item out and close it; the owner reports
// the player's Stopped (or Ended) back.
type FadeOut struct {
	Item *Item
	Fade time.Duration
}

// Mute has the player fade to silence and keep the item running; the
// owner reports the player's Silent back.
type Mute struct{ Fade time.Duration }

// Unmute fades the item back in.
type Unmute struct{ Fade time.Duration }

// Arm (re)arms the sequence timer: the owner calls Timer when it fires.
type Arm struct{ After time.Duration }

// ArmHold arms the amplifier's hold timer: the owner calls Hold when it
// fires.
type ArmHold struct{ After time.Duration }

// CancelHold stops the hold timer.
type CancelHold struct{}

// Done says the item left the output. Heard tells whether the player had
// it (anything of it could be heard); Played counts the samples of its own
// audio heard in this run (chime excluded, already added to Item.Played).
// The owner decides what comes next (Queue) and calls Start or Idle.
type Done struct {
	Item   *Item
	Reason string
	Played int64
	Err    error
	Heard  bool
}

func (SetAmp) isEffect()     {}
func (SetRelays) isEffect()  {}
func (Play) isEffect()       {}
func (FadeOut) isEffect()    {}
func (Mute) isEffect()       {}
func (Unmute) isEffect()     {}
func (Arm) isEffect()        {}
func (ArmHold) isEffect()    {}
func (CancelHold) isEffect() {}
func (Done) isEffect()       {}

// step is what a Draining sequence does once the device is quiet.
type step int

const (
	stepNone     step = iota
	stepStart         // move relays, settle, start the player
	stepIdle          // move relays back to the manual zones
	stepResettle      // move relays mid-item, settle, fade back in
)

// Sequencer brings one item at a time on air and takes it off: amplifier
// first, then relays (only at silence, after the device played out what it
// held), then the player; and the reverse. It holds deadlines (amplifier
// warm, relays settled, device quiet), not steps, so a preemption in the
// middle cannot skip one.
type Sequencer struct {
	t     Timings
	state State
	item  *Item
	// audible is set while the player holds the item (from Play until its
	// Ended or Stopped): only then can anything of it be heard.
	audible bool
	// stopReason is why the item is fading out (Stopping).
	stopReason string
	amp        bool
	// manual are the zones the operator switched on (the zones command);
	// relays what the relays actually do: manual plus the item's zones.
	manual, relays map[string]bool
	// ampReadyAt: the amplifier has warmed up; settledAt: the relays have
	// settled; quietAt: the device has played out the last audio written
	// before an end or a mute, so relays may move.
	ampReadyAt, settledAt, quietAt time.Time
	then                           step
	holding                        bool
}

// NewSequencer starts idle, amplifier off, with the relays as they are
// (relays) and the operator's zones (manual).
func NewSequencer(t Timings, manual, relays map[string]bool) *Sequencer {
	return &Sequencer{t: t, manual: maps.Clone(manual), relays: maps.Clone(relays)}
}

// SetTimings changes the delays; they apply from the next step.
func (s *Sequencer) SetTimings(t Timings) { s.t = t }

// State is the sequencer's state.
func (s *Sequencer) State() State { return s.state }

// Item is the item on air (being sequenced), nil when none.
func (s *Sequencer) Item() *Item { return s.item }

// Audible reports whether the player holds the item on air.
func (s *Sequencer) Audible() bool { return s.audible }

// Leaving reports whether the item on air is fading out for good (stopped):
// it no longer holds the output against newcomers.
func (s *Sequencer) Leaving() bool { return s.state == Stopping && s.stopReason == "stopped" }

// Amp reports whether the amplifier is powered.
func (s *Sequencer) Amp() bool { return s.amp }

// Relays returns what the zone relays do.
func (s *Sequencer) Relays() map[string]bool { return maps.Clone(s.relays) }

// Quiet reports whether relays may move at once: nothing on air and the
// device has played out its last audio.
func (s *Sequencer) Quiet(now time.Time) bool { return s.state == Idle && !now.Before(s.quietAt) }

// Want is what the relays should do: the manual zones plus the zones of
// the item on air.
func (s *Sequencer) Want() map[string]bool {
	want := maps.Clone(s.manual)
	if s.item != nil {
		for _, z := range s.item.Zones {
			want[z] = true
		}
	}
	return want
}

// Moved records relays the owner switched itself (a zones command while
// quiet): they settle from now.
func (s *Sequencer) Moved(now time.Time, relays map[string]bool) {
	if !maps.Equal(relays, s.relays) {
		s.settledAt = now.Add(s.t.Settle)
	}
	s.relays = maps.Clone(relays)
}

// RelayFailed corrects the sequencer's view after the owner could not
// switch a relay: it keeps its old level, and the next move tries again.
func (s *Sequencer) RelayFailed(zone string, on bool) { s.relays[zone] = on }

// Start sequences it onto the output; nothing may be on air.
func (s *Sequencer) Start(now time.Time, it *Item) []Effect {
	var fx []Effect
	s.item = it
	if s.holding {
		s.holding = false
		fx = append(fx, CancelHold{})
	}
	if !s.amp {
		s.amp = true
		s.ampReadyAt = now.Add(s.t.Warmup)
		fx = append(fx, SetAmp{On: true})
	}
	if wait := s.ampReadyAt.Sub(now); wait > 0 {
		s.state = Warming
		return append(fx, Arm{wait})
	}
	return s.whenQuiet(now, stepStart, fx)
}

// Idle is called when nothing is left to play: the relays go back to the
// manual zones once the device is quiet, and the amplifier's hold starts.
func (s *Sequencer) Idle(now time.Time) []Effect {
	s.state = Idle
	fx := s.whenQuiet(now, stepIdle, nil)
	if s.amp && !s.holding {
		s.holding = true
		fx = append(fx, ArmHold{s.t.Hold})
	}
	return fx
}

// Stop takes the item on air off with reason ("interrupted", "replaced",
// "stopped"): a fade-out when it is audible, at once (Done) otherwise. A
// stop while already fading out only makes it for good.
func (s *Sequencer) Stop(now time.Time, reason string) []Effect {
	switch {
	case s.item == nil:
		return nil
	case s.state == Stopping:
		// A stop overrides an interruption: the item must not come back.
		if reason == "stopped" {
			s.stopReason = reason
		}
		return nil
	case s.audible:
		s.state = Stopping
		s.stopReason = reason
		return []Effect{FadeOut{Item: s.item, Fade: s.t.Fade}}
	default:
		// Warming, settling or draining: nothing of it was heard.
		return s.end(now, reason, 0, nil)
	}
}

// SetManual records the operator's zones. While something is audible the
// relays follow after a fade to silence; while a step is pending, that
// step applies them; when idle, once the device is quiet.
func (s *Sequencer) SetManual(now time.Time, manual map[string]bool) []Effect {
	s.manual = maps.Clone(manual)
	switch {
	case s.state == Draining || s.state == Warming || s.state == Stopping || s.state == Muting:
		return nil
	case s.audible:
		if maps.Equal(s.Want(), s.relays) {
			return nil
		}
		s.state = Muting
		return []Effect{Mute{s.t.Fade}}
	case s.state == Settling:
		return s.whenQuiet(now, stepStart, nil)
	default:
		return s.whenQuiet(now, stepIdle, nil)
	}
}

// Timer continues the sequence when the sequence timer fires. A timer that
// fires early or stale (from a step that was superseded) does nothing, or
// re-arms for what is left.
func (s *Sequencer) Timer(now time.Time) []Effect {
	switch s.state {
	case Warming:
		if wait := s.ampReadyAt.Sub(now); wait > 0 {
			return []Effect{Arm{wait}}
		}
		return s.whenQuiet(now, stepStart, nil)
	case Settling:
		if wait := s.settledAt.Sub(now); wait > 0 {
			return []Effect{Arm{wait}}
		}
		return s.startPlayer()
	case Resettle:
		if wait := s.settledAt.Sub(now); wait > 0 {
			return []Effect{Arm{wait}}
		}
		s.state = Playing
		return []Effect{Unmute{s.t.Fade}}
	case Draining:
		if wait := s.quietAt.Sub(now); wait > 0 {
			return []Effect{Arm{wait}}
		}
		next := s.then
		s.then = stepNone
		s.state = Idle
		if s.audible {
			s.state = Muting // draining a mid-item mute: still muted
		}
		return s.run(now, next, nil)
	}
	return nil
}

// Hold powers the amplifier down when its hold timer fires, once the last
// audio has played out.
func (s *Sequencer) Hold(now time.Time) []Effect {
	s.holding = false
	if wait := s.quietAt.Sub(now); wait > 0 || s.state == Draining {
		s.holding = true
		return []Effect{ArmHold{max(wait, s.t.Drain)}}
	}
	if s.item == nil && s.amp {
		s.amp = false
		return []Effect{SetAmp{On: false}}
	}
	return nil
}

// PlayerStarted records that the item's first sample of this run reached
// the sink; it reports whether it was the item on air.
func (s *Sequencer) PlayerStarted(now time.Time, id string) bool {
	if !s.has(id) {
		return false
	}
	if s.item.Since.IsZero() {
		s.item.Since = now
	}
	s.item.RunStart = now
	s.item.LastRun = now
	return true
}

// PlayerEnded: the item's source ended (err set when it failed). An item
// that was being stopped or replaced keeps that reason.
func (s *Sequencer) PlayerEnded(now time.Time, id string, played int64, err error) []Effect {
	if !s.has(id) {
		return nil
	}
	reason := "completed"
	if err != nil {
		reason = "failed"
	}
	if s.state == Stopping && s.stopReason != "interrupted" {
		reason = s.stopReason
	}
	return s.end(now, reason, played, err)
}

// PlayerStopped: a fade-out completed.
func (s *Sequencer) PlayerStopped(now time.Time, id string, played int64) []Effect {
	if !s.has(id) {
		return nil
	}
	return s.end(now, s.stopReason, played, nil)
}

// PlayerSilent: a mute's fade to silence is written; once the device has
// played it out the relays move, settle, and the item fades back in.
func (s *Sequencer) PlayerSilent(now time.Time, id string) []Effect {
	if !s.has(id) || s.state != Muting {
		return nil
	}
	s.quietAt = now.Add(s.t.Drain)
	return s.whenQuiet(now, stepResettle, nil)
}

// Shutdown powers the amplifier down as the agent exits.
func (s *Sequencer) Shutdown() []Effect {
	s.item, s.audible, s.state = nil, false, Idle
	if !s.amp {
		return nil
	}
	s.amp = false
	return []Effect{SetAmp{On: false}}
}

func (s *Sequencer) has(id string) bool { return s.item != nil && s.item.ID == id && s.audible }

// end takes the item off the output.
func (s *Sequencer) end(now time.Time, reason string, played int64, err error) []Effect {
	it := s.item
	heard := s.audible
	s.item = nil
	s.state = Idle
	s.stopReason = ""
	s.then = stepNone
	if heard {
		// Its last audio is still in the device: relays wait for it.
		s.quietAt = now.Add(s.t.Drain)
	}
	s.audible = false
	it.RunStart = time.Time{}
	played = max(0, played-it.ChimeLen)
	it.Played += played
	return []Effect{Done{Item: it, Reason: reason, Played: played, Err: err, Heard: heard}}
}

// whenQuiet runs next at once, unless the device is still playing out
// audio and next would move relays: then it drains first.
func (s *Sequencer) whenQuiet(now time.Time, next step, fx []Effect) []Effect {
	if wait := s.quietAt.Sub(now); wait > 0 && !maps.Equal(s.Want(), s.relays) {
		s.state = Draining
		s.then = next
		return append(fx, Arm{wait})
	}
	return s.run(now, next, fx)
}

func (s *Sequencer) run(now time.Time, next step, fx []Effect) []Effect {
	switch next {
	case stepStart:
		fx = s.moveRelays(now, fx)
		if wait := s.settledAt.Sub(now); wait > 0 {
			s.state = Settling
			return append(fx, Arm{wait})
		}
		return append(fx, s.startPlayer()...)
	case stepIdle:
		return s.moveRelays(now, fx)
	case stepResettle:
		fx = s.moveRelays(now, fx)
		s.state = Resettle
		return append(fx, Arm{max(0, s.settledAt.Sub(now))})
	}
	return fx
}

func (s *Sequencer) startPlayer() []Effect {
	s.state = Playing
	s.audible = true
	s.item.ChimeLen = 0
	return []Effect{Play{Item: s.item}}
}

// moveRelays switches the relays to Want; the caller guarantees silence.
func (s *Sequencer) moveRelays(now time.Time, fx []Effect) []Effect {
	want := s.Want()
	var moves []Relay
	for _, z := range slices.Sorted(maps.Keys(want)) {
		if s.relays[z] != want[z] {
			moves = append(moves, Relay{Zone: z, On: want[z]})
			s.relays[z] = want[z]
		}
	}
	if len(moves) == 0 {
		return fx
	}
	s.settledAt = now.Add(s.t.Settle)
	return append(fx, SetRelays{Zones: moves})
}
