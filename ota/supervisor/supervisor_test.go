package supervisor

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/loaxa/loaxa/ota"
)

func TestBlankDataDirInstallsSelf(t *testing.T) {
	p := newPole(t)
	p.w.on("v1.0.0", good)
	p.run()
	p.waitStarts(1, 0)
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}
	b := p.boot()
	if b.Active != "a" || b.Trial != nil || logKinds(b) != "installed" {
		t.Errorf("boot %+v", b)
	}
	si, err := p.l.CheckSlot("a", nil)
	if err != nil || si.Version != "v1.0.0" || si.Origin != ota.OriginFactory {
		t.Errorf("slot a = %+v, %v", si, err)
	}
	s := p.w.starts()[0]
	if s.info.Slot != "a" || s.info.Version != "v1.0.0" || s.info.Trial || s.info.Other.Valid || s.info.Other.Slot != "b" {
		t.Errorf("the agent was told %+v", s.info)
	}
	if strings.Join(s.args, " ") != "--config /etc/loaxa/loaxa.toml" {
		t.Errorf("args %q", s.args)
	}
	p.w.mu.Lock()
	sigs := p.w.sigs
	p.w.mu.Unlock()
	if len(sigs) != 1 || sigs[0] != syscall.SIGTERM {
		t.Errorf("signals %v, want SIGTERM", sigs)
	}
}

func TestGoodVersionIsCommitted(t *testing.T) {
	p := newPole(t)
	p.slot("a", "v1.2.0")
	p.slot("b", "v1.3.0")
	p.committed("a")
	p.w.on("v1.2.0", asksSwitch)
	p.w.on("v1.3.0", good)
	p.run()
	waitFor(t, "the commit", func() bool { return p.boot().Active == "b" })
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}
	b := p.boot()
	if b.Trial != nil || logKinds(b) != "switch committed" || len(b.Bad) != 0 {
		t.Errorf("boot %+v", b)
	}
	if got := p.w.startedVersions(); got != "v1.2.0 v1.3.0(trial)" {
		t.Errorf("started %s", got)
	}
	trial := p.w.starts()[1].info
	if trial.TrialTimeoutMS != 120000 || trial.Other.Version != "v1.2.0" || !trial.Other.Valid {
		t.Errorf("the trial was told %+v", trial)
	}
}

// A new version that fails its trial is rolled back; the old one runs
// again and is told why; the failed binary is never started again.
func TestFailedTrialsRollBack(t *testing.T) {
	tests := []struct {
		name   string
		bad    behaviour
		drive  func(p *pole)
		reason string
		detail string
	}{
		{"crashes at start", crash, func(*pole) {}, ota.ReasonCrashed, "exit status 3 before reporting healthy"},
		{"hangs", hang, func(p *pole) {
			p.waitStarts(2, 1) // the trial timer
			p.clk.Advance(2 * time.Minute)
			p.waitStarts(2, 1) // the grace after SIGTERM
			p.clk.Advance(15 * time.Second)
		}, ota.ReasonTrialTimeout, "no health report within 2m0s; stopped"},
		{"never connects", noBroker, func(p *pole) {
			p.waitStarts(2, 1)
			waitFor(p.t, "the status", func() bool { return statusTold.Load() > 0 })
			p.clk.Advance(2 * time.Minute)
		}, ota.ReasonTrialTimeout, "(last status: broker not connected)"},
		{"restarts, then crashes", func() behaviour {
			n := 0
			return func(context.Context, <-chan struct{}, *Conn) int {
				n++
				if n == 1 {
					return ExitRestart
				}
				return 9
			}
		}(), func(*pole) {}, ota.ReasonCrashed, "exit status 9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPole(t)
			p.slot("a", "v1.2.0")
			p.slot("b", "v1.3.0")
			p.committed("a")
			p.w.on("v1.2.0", asksSwitch, good)
			p.w.on("v1.3.0", tt.bad)
			p.run()
			tt.drive(p)
			waitFor(t, "the old version again", func() bool { return strings.Count(p.w.startedVersions(), "v1.2.0") == 2 })
			if err := p.stop(); err != nil {
				t.Fatal(err)
			}
			b := p.boot()
			if b.Active != "a" || b.Trial != nil || logKinds(b) != "switch rolled_back:"+tt.reason || len(b.Bad) != 1 {
				t.Errorf("boot %+v (log %s)", b, logKinds(b))
			}
			last := b.Log[len(b.Log)-1]
			if last.From != "v1.3.0" || last.To != "v1.2.0" || !strings.Contains(last.Detail, tt.detail) {
				t.Errorf("rollback %+v, want detail %q", last, tt.detail)
			}
			// The old agent hears of it, and the other slot is now unusable.
			starts := p.w.starts()
			back := starts[len(starts)-1].info
			if got := back.Log[len(back.Log)-1]; got.Kind != ota.BootRolledBack || got.Reason != tt.reason {
				t.Errorf("the old agent was told %+v", got)
			}
			if back.Other.Valid || !strings.Contains(back.Other.Problem, "failed a trial") {
				t.Errorf("other slot %+v", back.Other)
			}
		})
	}
}

// A committed version that keeps crashing falls back to the other slot,
// on trial.
func TestCrashLoopFallsBack(t *testing.T) {
	p := newPole(t)
	p.slot("a", "v1.1.0")
	p.slot("b", "v1.2.0")
	p.committed("b")
	p.w.on("v1.2.0", crashAfterHealthy)
	p.w.on("v1.1.0", good)
	p.run()
	for i := 1; i <= 2; i++ {
		p.waitStarts(i, 1) // the restart backoff
		p.clk.Advance(4 * time.Second)
	}
	waitFor(t, "the fallback's commit", func() bool { return p.boot().Active == "a" })
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}
	b := p.boot()
	if got := logKinds(b); got != "fallback:crash_loop committed:crash_loop" {
		t.Errorf("log %s", got)
	}
	if got := p.w.startedVersions(); got != "v1.2.0 v1.2.0 v1.2.0 v1.1.0(trial)" {
		t.Errorf("started %s", got)
	}
	if d := b.Log[0].Detail; !strings.Contains(d, "3 exits within 10m0s, the last: exit status 4") {
		t.Errorf("detail %q", d)
	}
}

// With nothing to fall back to, a crashing agent is restarted with
// backoff for ever: a pole never gives up.
func TestCrashLoopWithoutFallbackKeepsRestarting(t *testing.T) {
	p := newPole(t)
	p.slot("a", "v1.2.0")
	p.committed("a")
	p.w.on("v1.2.0", crash)
	p.run()
	for i := 1; i <= 6; i++ {
		p.waitStarts(i, 1)
		p.clk.Advance(4 * time.Second)
	}
	p.waitStarts(7, 1)
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}
	if b := p.boot(); b.Active != "a" || b.Trial != nil || logKinds(b) != "" {
		t.Errorf("boot %+v", b)
	}
}

// The restart command: at once, not counted as a crash.
func TestRestartIsNotACrash(t *testing.T) {
	p := newPole(t)
	p.slot("a", "v1.2.0")
	p.committed("a")
	p.w.on("v1.2.0", restarts, restarts, restarts, restarts, good)
	p.run()
	p.waitStarts(5, 0)
	p.stop()
	if b := p.boot(); len(b.Exits) != 0 || logKinds(b) != "" {
		t.Errorf("boot %+v", b)
	}
}

// A release that hangs on trial is stopped by its trial time, not by
// systemd's watchdog: the supervisor feeds the watchdog (WatchdogSec=30 in
// the unit) for the whole trial, and the release is rolled back as
// trial_timeout.
func TestHungTrialKeepsSystemdWatchdogFed(t *testing.T) {
	p := newPole(t)
	p.slot("a", "v1.2.0")
	p.slot("b", "v1.3.0")
	p.committed("a")
	p.w.on("v1.2.0", asksSwitch, good)
	p.w.on("v1.3.0", hang)
	var mu sync.Mutex
	pings := 0
	p.opts = func(o *Options) {
		o.Notify = func(state string) {
			mu.Lock()
			defer mu.Unlock()
			if state == "WATCHDOG=1" {
				pings++
			}
		}
	}
	pinged := func() int { mu.Lock(); defer mu.Unlock(); return pings }
	p.run()
	p.waitStarts(2, 2) // the trial timer and the watchdog ticker
	// 30 s without a ping is what systemd allows: advance in steps of
	// 10 s through the whole 2 min trial, a ping at each.
	for i := 1; i < 12; i++ {
		p.clk.Advance(TrialWatchdogPing)
		waitFor(t, fmt.Sprintf("ping %d", i), func() bool { return pinged() >= i })
	}
	p.clk.Advance(TrialWatchdogPing) // the trial time is up: SIGTERM, then the grace
	p.waitStarts(2, 2)
	p.clk.Advance(15 * time.Second)
	waitFor(t, "the old version again", func() bool { return strings.Count(p.w.startedVersions(), "v1.2.0") == 2 })
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}
	if b := p.boot(); logKinds(b) != "switch rolled_back:"+ota.ReasonTrialTimeout {
		t.Errorf("log %s, want the trial timed out", logKinds(b))
	}
}

// A trial cut again and again (power cuts) counts as failed.
func TestInterruptedTrialRollsBack(t *testing.T) {
	p := newPole(t)
	p.slot("a", "v1.2.0")
	p.slot("b", "v1.3.0")
	p.committed("a")
	p.w.on("v1.2.0", asksSwitch, good)
	p.w.on("v1.3.0", noBroker)
	p.run()
	p.waitStarts(2, 1)
	p.stop() // the power goes while v1.3.0 is on trial
	p.run()
	p.waitStarts(3, 1)
	p.stop() // and again
	if b := p.boot(); b.Trial == nil || b.Trial.Starts != 2 {
		t.Fatalf("trial %+v", b.Trial)
	}
	p.run()
	waitFor(t, "the old version", func() bool { return strings.HasSuffix(p.w.startedVersions(), "v1.2.0") })
	p.stop()
	b := p.boot()
	if logKinds(b) != "switch rolled_back:interrupted" || b.Active != "a" {
		t.Errorf("log %s", logKinds(b))
	}
	if got := p.w.startedVersions(); got != "v1.2.0 v1.3.0(trial) v1.3.0(trial) v1.2.0" {
		t.Errorf("started %s", got)
	}
}

func TestSwitchToABrokenSlotIsRefused(t *testing.T) {
	p := newPole(t)
	p.slot("a", "v1.2.0")
	p.slot("b", "v1.3.0")
	p.committed("a")
	// The binary changed after its slot.json was written (bit rot).
	if err := writeFile(p.l.Binary("b"), "binary of v1.3.1"); err != nil {
		t.Fatal(err)
	}
	p.w.on("v1.2.0", asksSwitch, good)
	p.run()
	p.waitStarts(2, 0)
	p.stop()
	b := p.boot()
	if logKinds(b) != "switch_refused:invalid" || b.Active != "a" {
		t.Errorf("log %s", logKinds(b))
	}
	if ev := b.Log[0]; ev.To != "v1.3.0" || !strings.Contains(ev.Detail, "sha256") {
		t.Errorf("refusal %+v", ev)
	}
}

// The committed slot's binary is damaged: the other slot takes over, and
// if there is none, the supervisor's own binary.
func TestDamagedCommittedSlot(t *testing.T) {
	t.Run("other slot", func(t *testing.T) {
		p := newPole(t)
		p.slot("a", "v1.2.0")
		p.slot("b", "v1.1.0")
		p.committed("a")
		writeFile(p.l.Binary("a"), "garbage")
		p.w.on("v1.1.0", good)
		p.run()
		p.waitStarts(1, 0)
		p.stop()
		if b := p.boot(); b.Active != "b" || logKinds(b) != "fallback:invalid" {
			t.Errorf("boot %+v", b)
		}
	})
	t.Run("own binary", func(t *testing.T) {
		p := newPole(t)
		p.slot("a", "v1.2.0")
		p.committed("a")
		writeFile(p.l.Binary("a"), "garbage")
		p.w.on("v1.0.0", good)
		p.run()
		p.waitStarts(1, 0)
		p.stop()
		if b := p.boot(); b.Active != "a" || logKinds(b) != "installed:invalid" {
			t.Errorf("boot %+v", b)
		}
	})
}

func TestUnreadableBootDocumentIsRebuilt(t *testing.T) {
	p := newPole(t)
	p.slot("a", "v1.2.0")
	p.slot("b", "v1.3.0")
	writeFile(p.l.BootDoc(), "{torn")
	p.w.on("v1.3.0", good)
	p.run()
	p.waitStarts(1, 0)
	p.stop()
	b := p.boot()
	if b.Active != "b" || logKinds(b) != "installed" || !strings.Contains(b.Log[0].Detail, "unreadable") {
		t.Errorf("boot %+v", b)
	}
}

func TestSignalsAreForwarded(t *testing.T) {
	p := newPole(t)
	sigs := make(chan osSignal, 1)
	p.opts = func(o *Options) { o.Signals = sigs }
	p.w.on("v1.0.0", good)
	p.run()
	p.waitStarts(1, 0)
	sigs <- syscall.SIGINT
	select {
	case err := <-p.done:
		p.cancel = nil
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the supervisor did not stop on SIGINT")
	}
	p.w.mu.Lock()
	defer p.w.mu.Unlock()
	if len(p.w.sigs) != 1 || p.w.sigs[0] != syscall.SIGINT {
		t.Errorf("the agent got %v, want SIGINT", p.w.sigs)
	}
}
