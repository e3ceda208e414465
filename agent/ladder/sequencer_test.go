package ladder

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// world carries out a sequencer's effects the way the agent does, on a
// timeline of its own, and writes down what a person at the pole would
// notice: the amplifier, the relays, the player.
type world struct {
	t     *testing.T
	s     *Sequencer
	now   time.Time
	timer time.Time // zero: not armed
	hold  time.Time
	trace []string
	done  []Done
}

var timings = Timings{Warmup: 500 * time.Millisecond, Settle: 50 * time.Millisecond, Fade: 30 * time.Millisecond, Hold: 30 * time.Second, Drain: 50 * time.Millisecond}

func newWorld(t *testing.T, manual map[string]bool) *world {
	w := &world{t: t, now: t0, s: NewSequencer(timings, manual, manual)}
	return w
}

func (w *world) log(format string, a ...any) {
	w.trace = append(w.trace, fmt.Sprintf("%v ", w.now.Sub(t0))+fmt.Sprintf(format, a...))
}

func (w *world) apply(fx []Effect) {
	for _, e := range fx {
		switch e := e.(type) {
		case SetAmp:
			w.log("amp %v", e.On)
		case SetRelays:
			var z []string
			for _, r := range e.Zones {
				z = append(z, fmt.Sprintf("%s=%v", r.Zone, r.On))
			}
			w.log("relays %s", strings.Join(z, " "))
		case Play:
			w.log("play %s", e.Item.ID)
		case FadeOut:
			w.log("fade out %s %v", e.Item.ID, e.Fade)
		case Mute:
			w.log("mute %v", e.Fade)
		case Unmute:
			w.log("unmute %v", e.Fade)
		case Arm:
			w.timer = w.now.Add(e.After)
		case ArmHold:
			w.hold = w.now.Add(e.After)
		case CancelHold:
			w.hold = time.Time{}
		case Done:
			heard := "unheard"
			if e.Heard {
				heard = "heard"
			}
			w.log("done %s %s %s", e.Item.ID, e.Reason, heard)
			w.done = append(w.done, e)
		default:
			w.t.Fatalf("unknown effect %T", e)
		}
	}
}

// wait lets d pass, firing the timers that fall due on the way, in order.
func (w *world) wait(d time.Duration) {
	end := w.now.Add(d)
	for {
		due := func(t time.Time) bool { return !t.IsZero() && !t.After(end) }
		switch {
		case due(w.timer) && (!due(w.hold) || !w.hold.Before(w.timer)):
			w.now, w.timer = w.timer, time.Time{}
			w.apply(w.s.Timer(w.now))
		case due(w.hold):
			w.now, w.hold = w.hold, time.Time{}
			w.apply(w.s.Hold(w.now))
		default:
			w.now = end
			return
		}
	}
}

func zones(on ...string) map[string]bool {
	m := map[string]bool{"z1": false, "z2": false, "z3": false}
	for _, z := range on {
		m[z] = true
	}
	return m
}

func playing(id string, zs ...string) *Item { return &Item{ID: id, Level: Normal, Zones: zs} }

func (w *world) expect(want ...string) {
	w.t.Helper()
	if got := strings.Join(w.trace, "\n"); got != strings.Join(want, "\n") {
		w.t.Fatalf("trace:\n%s\n\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	w.trace = nil
}

func TestSequenceOfOnePlay(t *testing.T) {
	w := newWorld(t, zones())
	n1 := playing("n1", "z1", "z2")
	w.apply(w.s.Start(w.now, n1))
	w.wait(time.Second)
	w.apply(w.s.PlayerEnded(w.now, "n1", 48000, nil))
	w.apply(w.s.Idle(w.now))
	w.wait(time.Minute)
	w.expect(
		"0s amp true",
		"500ms relays z1=true z2=true", // after the amplifier's warm-up
		"550ms play n1",                // after the relays settled
		"1s done n1 completed heard",
		"1.05s relays z1=false z2=false", // after the device played out
		"31s amp false",                  // after the hold
	)
	if w.s.State() != Idle || w.s.Amp() || w.s.Item() != nil {
		t.Errorf("state %v amp %v item %v after the end", w.s.State(), w.s.Amp(), w.s.Item())
	}
}

func TestPreemptionDuringWarmUpWaitsForTheAmplifier(t *testing.T) {
	w := newWorld(t, zones())
	w.apply(w.s.Start(w.now, playing("n1", "z1")))
	w.wait(10 * time.Millisecond)
	w.apply(w.s.Stop(w.now, "interrupted"))
	w.apply(w.s.Start(w.now, playing("e1", "z2")))
	w.wait(time.Second)
	w.expect(
		"0s amp true",
		"10ms done n1 interrupted unheard",
		"500ms relays z2=true", // the warm-up still counts from power-on
		"550ms play e1",
	)
}

func TestStopDuringAnInterruptionFadeIsForGood(t *testing.T) {
	w := newWorld(t, zones())
	w.apply(w.s.Start(w.now, playing("n1")))
	w.wait(time.Second)
	w.apply(w.s.Stop(w.now, "interrupted"))
	if w.s.Leaving() {
		t.Error("an interrupted item counts as leaving for good")
	}
	w.apply(w.s.Stop(w.now, "stopped"))
	if !w.s.Leaving() {
		t.Error("a stopped item does not count as leaving for good")
	}
	w.apply(w.s.Stop(w.now, "interrupted")) // an interruption cannot undo the stop
	w.wait(30 * time.Millisecond)
	w.apply(w.s.PlayerStopped(w.now, "n1", 1000))
	w.expect(
		"0s amp true",
		"500ms play n1", // no zone of its own: no relay to settle
		"1s fade out n1 30ms",
		"1.03s done n1 stopped heard",
	)
}

func TestRelaysWaitForTheDeviceToPlayOut(t *testing.T) {
	w := newWorld(t, zones())
	w.apply(w.s.Start(w.now, playing("n1", "z1")))
	w.wait(time.Second)
	w.apply(w.s.PlayerEnded(w.now, "n1", 0, nil))
	w.apply(w.s.Start(w.now, playing("m1", "z3")))
	if w.s.State() != Draining {
		t.Fatalf("state %v right after the end, want draining", w.s.State())
	}
	w.wait(time.Second)
	w.expect(
		"0s amp true",
		"500ms relays z1=true",
		"550ms play n1",
		"1s done n1 completed heard",
		"1.05s relays z1=false z3=true",
		"1.1s play m1",
	)
}

func TestBackToBackItemsKeepTheAmplifierAndRelays(t *testing.T) {
	w := newWorld(t, zones())
	w.apply(w.s.Start(w.now, playing("a", "z1")))
	w.wait(time.Second)
	w.apply(w.s.PlayerEnded(w.now, "a", 0, nil))
	w.apply(w.s.Idle(w.now))
	w.wait(10 * time.Millisecond)
	// The next item comes within the drain: same zones, nothing moves, the
	// hold is cancelled.
	w.apply(w.s.Start(w.now, playing("b", "z1")))
	w.wait(time.Minute)
	w.expect(
		"0s amp true",
		"500ms relays z1=true",
		"550ms play a",
		"1s done a completed heard",
		"1.01s play b",
	)
}

func TestZonesChangeMidItemMutesMovesSettlesAndComesBack(t *testing.T) {
	w := newWorld(t, zones())
	w.apply(w.s.Start(w.now, playing("m", "z1")))
	w.wait(time.Second)
	w.apply(w.s.SetManual(w.now, zones("z3")))
	w.wait(30 * time.Millisecond)
	w.apply(w.s.PlayerSilent(w.now, "m"))
	w.wait(time.Second)
	w.expect(
		"0s amp true",
		"500ms relays z1=true",
		"550ms play m",
		"1s mute 30ms",
		"1.08s relays z3=true", // the fade, then the device's drain
		"1.13s unmute 30ms",    // the relay settled
	)
	// The same zones again change nothing audible.
	w.apply(w.s.SetManual(w.now, zones("z3")))
	w.expect()
}

func TestManualZonesMoveWhenQuiet(t *testing.T) {
	w := newWorld(t, zones())
	if !w.s.Quiet(w.now) {
		t.Fatal("a new sequencer is not quiet")
	}
	w.s.Moved(w.now, zones("z2"))
	w.apply(w.s.SetManual(w.now, zones("z2")))
	w.expect() // the owner moved them itself
	if r := w.s.Relays(); !r["z2"] || r["z1"] {
		t.Errorf("relays %v", r)
	}
	// A relay that failed keeps its level and is tried again at the next move.
	w.apply(w.s.SetManual(w.now, zones("z1", "z2")))
	w.s.RelayFailed("z1", false)
	w.apply(w.s.SetManual(w.now, zones("z1", "z2")))
	w.expect("0s relays z1=true", "0s relays z1=true")
}

func TestEndReasons(t *testing.T) {
	boom := errors.New("stream gone")
	for _, tc := range []struct {
		name    string
		stop    string // "" for none
		err     error
		stopped bool // the player reports Stopped rather than Ended
		want    string
	}{
		{"completes", "", nil, false, "completed"},
		{"fails", "", boom, false, "failed"},
		{"ends during an interruption's fade", "interrupted", nil, false, "completed"},
		{"ends during a stop's fade", "stopped", nil, false, "stopped"},
		{"ends during a replacement's fade", "replaced", boom, false, "replaced"},
		{"fade completes for a replacement", "replaced", nil, true, "replaced"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, zones())
			n := playing("n")
			n.ChimeLen = 0
			w.apply(w.s.Start(w.now, n))
			w.wait(time.Second)
			n.ChimeLen = 100 // the owner's chime preceded the item's audio
			if tc.stop != "" {
				w.apply(w.s.Stop(w.now, tc.stop))
			}
			if tc.stopped {
				w.apply(w.s.PlayerStopped(w.now, "n", 1100))
			} else {
				w.apply(w.s.PlayerEnded(w.now, "n", 1100, tc.err))
			}
			if len(w.done) != 1 || w.done[0].Reason != tc.want || !errors.Is(w.done[0].Err, tc.err) && !tc.stopped {
				t.Fatalf("done %+v, want reason %s", w.done, tc.want)
			}
			if n.Played != 1000 || w.done[0].Played != 1000 {
				t.Errorf("played %d (done says %d), want 1000: the chime is not the item", n.Played, w.done[0].Played)
			}
		})
	}
}

func TestReportsAboutOtherItemsAreIgnored(t *testing.T) {
	w := newWorld(t, zones())
	w.apply(w.s.Start(w.now, playing("a")))
	// Before the player has it, nothing it says about a counts.
	if w.s.PlayerStarted(w.now, "a") {
		t.Error("started before Play")
	}
	w.wait(time.Second)
	w.trace = nil
	w.apply(w.s.PlayerEnded(w.now, "old", 0, nil))
	w.apply(w.s.PlayerStopped(w.now, "old", 0))
	w.apply(w.s.PlayerSilent(w.now, "a")) // not muting
	w.apply(w.s.Timer(w.now))             // a stale timer
	w.expect()
	if !w.s.PlayerStarted(w.now, "a") || w.s.Item().Since != w.now {
		t.Error("Started of the item on air not recorded")
	}
}

func TestHoldWaitsForTheDrain(t *testing.T) {
	w := newWorld(t, zones())
	w.s.SetTimings(Timings{Warmup: 0, Settle: 0, Fade: 30 * time.Millisecond, Hold: 10 * time.Millisecond, Drain: 50 * time.Millisecond})
	w.apply(w.s.Start(w.now, playing("a", "z1")))
	w.wait(time.Second)
	w.apply(w.s.PlayerEnded(w.now, "a", 0, nil))
	w.apply(w.s.Idle(w.now))
	w.wait(time.Second)
	w.expect(
		"0s amp true",
		"0s relays z1=true",
		"0s play a",
		"1s done a completed heard",
		"1.05s relays z1=false",
		"1.06s amp false", // the hold fell due inside the drain and waited for it
	)
}
