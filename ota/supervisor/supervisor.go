package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/loaxa/loaxa/internal/backoff"
	"github.com/loaxa/loaxa/internal/clock"
	"github.com/loaxa/loaxa/ota"
)

// Options configure the supervisor. Zero values mean the defaults given.
type Options struct {
	// DataDir is the agent's data directory; the slots and boot.json live
	// in DataDir/ota. Required.
	DataDir string
	// Args are the agent's arguments: loaxad's own, without "supervise".
	Args []string
	// Env is the agent's environment; nil: os.Environ(). EnvInfo is set
	// on top of it.
	Env []string
	// Self is the binary installed as the first slot of an empty data
	// directory, and the last resort when no slot can run (os.Executable()).
	// Version is its version. Required.
	Self    string
	Version string
	// Keys are ota.keys from the configuration; slots are verified with
	// ota.LoadTrustedKeys(layout, Keys). Empty: only the slots' SHA-256
	// is checked.
	Keys []ota.PublicKey
	// Trial is how long a new version has to report healthy when its
	// manifest does not say (0: ota.DefaultTrialS).
	Trial time.Duration
	// MaxTrialStarts is how many times a trial may be started (power cuts,
	// supervisor restarts) before it counts as failed (0: 2).
	MaxTrialStarts int
	// CrashLoopExits unexpected exits of a committed version within
	// CrashLoopWindow make the supervisor fall back to the other slot
	// (0: ota.DefaultCrashLoopExits and ota.DefaultCrashLoopWindowS).
	CrashLoopExits  int
	CrashLoopWindow time.Duration
	// RestartBase and RestartMax bound the full-jitter backoff between
	// restarts of a crashing agent (0: 1 s and 20 s: below the unit's
	// WatchdogSec, and the supervisor pings the watchdog before waiting).
	RestartBase, RestartMax time.Duration
	// StopGrace is how long a child has to exit after SIGTERM before it is
	// killed (0: 15 s, under the unit's TimeoutStopSec).
	StopGrace time.Duration
	// Signals, when set, are forwarded to the child as they are (SIGTERM,
	// SIGINT); the supervisor then stops once the child has exited. ctx
	// ending does the same with SIGTERM.
	Signals <-chan os.Signal
	// Clock and Log; nil: clock.Real and slog.Default.
	Clock clock.Clock
	Log   *slog.Logger
	// Notify sends a systemd notification ("READY=1", "WATCHDOG=1",
	// "STATUS=..."); nil: none.
	Notify func(state string)
	// Start starts a child; nil: StartProcess(Stdout, Stderr).
	Start          StartFunc
	Stdout, Stderr io.Writer
	// Store keeps boot.json; nil: a FileStore in DataDir/ota.
	Store Store
	// Hook is for crash tests: called with "boot:EVENT" right after each
	// decision is persisted. nil in production.
	Hook func(point string)
}

// Run supervises the agent until ctx ends (or a forwarded signal stops
// it): it starts the active slot, runs new versions on trial, commits or
// rolls them back, and falls back from a crash loop. It returns nil after
// a clean stop, or an error when the data directory cannot be used at all.
func Run(ctx context.Context, o Options) error {
	s, err := newSupervisor(o)
	if err != nil {
		return err
	}
	if err := s.init(); err != nil {
		return err
	}
	for {
		if ctx.Err() != nil || s.stopping {
			return nil
		}
		spec := s.pick()
		out := s.runChild(ctx, spec)
		if s.stopping {
			s.log.Info("agent stopped", "slot", spec.slot, "version", spec.version, "exit", out.exit.String())
			return nil
		}
		s.decide(ctx, spec, out)
	}
}

type supervisor struct {
	o         Options
	l         ota.Layout
	store     Store
	log       *slog.Logger
	clock     clock.Clock
	boot      Boot
	bo        *backoff.Backoff
	stopping  bool
	ready     bool
	restarted bool // the next trial start is a restart the agent asked for, not a new attempt
}

func newSupervisor(o Options) (*supervisor, error) {
	if o.DataDir == "" || o.Self == "" {
		return nil, errors.New("supervisor: DataDir and Self are required")
	}
	if o.Env == nil {
		o.Env = os.Environ()
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Trial == 0 {
		o.Trial = ota.DefaultTrialS * time.Second
	}
	if o.MaxTrialStarts == 0 {
		o.MaxTrialStarts = 2
	}
	if o.CrashLoopExits == 0 {
		o.CrashLoopExits = ota.DefaultCrashLoopExits
	}
	if o.CrashLoopWindow == 0 {
		o.CrashLoopWindow = ota.DefaultCrashLoopWindowS * time.Second
	}
	if o.RestartBase == 0 {
		o.RestartBase = time.Second
	}
	if o.RestartMax == 0 {
		o.RestartMax = 20 * time.Second
	}
	if o.StopGrace == 0 {
		o.StopGrace = 15 * time.Second
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	if o.Start == nil {
		o.Start = StartProcess(o.Stdout, o.Stderr)
	}
	l := ota.NewLayout(o.DataDir)
	if o.Store == nil {
		o.Store = FileStore{Path: l.BootDoc()}
	}
	return &supervisor{
		o: o, l: l, store: o.Store, log: o.Log.With("component", "supervisor"), clock: o.Clock,
		bo: backoff.New(o.RestartBase, o.RestartMax, o.Clock, nil),
	}, nil
}

// init loads boot.json; an empty data directory gets the supervisor's own
// binary as its first, committed, slot.
func (s *supervisor) init() error {
	if err := os.MkdirAll(s.l.Dir, 0o755); err != nil {
		return fmt.Errorf("supervisor: %w", err)
	}
	b, err := s.store.Load()
	if err == nil {
		s.boot = b
		return nil
	}
	detail := ""
	if !errors.Is(err, errNoBoot) {
		s.log.Error("boot document unreadable; rebuilding it from the slots", "err", err)
		detail = err.Error()
	}
	// Keep what the slots hold, highest version first; else install self.
	best := ""
	var bestInfo *ota.SlotInfo
	for _, slot := range ota.Slots {
		si, err := s.l.CheckSlot(slot, s.keys())
		if err != nil {
			continue
		}
		if bestInfo == nil || version(si.Version).Compare(version(bestInfo.Version)) > 0 {
			best, bestInfo = slot, si
		}
	}
	if bestInfo == nil {
		best = "a"
		if err := s.installSelf(best); err != nil {
			return fmt.Errorf("supervisor: install the first slot: %w", err)
		}
		bestInfo = &ota.SlotInfo{Version: s.o.Version}
	}
	s.boot = Boot{Active: best, Seq: s.boot.Seq}
	s.boot.addLog(ota.BootEvent{Kind: ota.BootInstalled, To: bestInfo.Version, ToSlot: best, Detail: detail, At: s.now()})
	if err := s.store.Save(s.boot); err != nil {
		return fmt.Errorf("supervisor: %w", err)
	}
	s.log.Info("first slot installed and committed", "slot", best, "version", bestInfo.Version)
	s.hook(ota.BootInstalled)
	return nil
}

// runSpec is what to start.
type runSpec struct {
	slot    string
	path    string
	version string
	trial   bool
	timeout time.Duration
}

// pick decides what to start, persisting the decision first.
func (s *supervisor) pick() runSpec {
	for {
		if t := s.boot.Trial; t != nil {
			if !s.restarted {
				t.Starts++
			}
			s.restarted = false
			if t.Starts > s.o.MaxTrialStarts {
				s.rollback(ota.ReasonInterrupted, fmt.Sprintf("the trial was started %d times and cut each time (power cuts or supervisor restarts)", t.Starts-1))
				continue
			}
			si, err := s.usable(t.Slot)
			if err != nil {
				s.rollback(ota.ReasonInvalid, err.Error())
				continue
			}
			if err := s.save(); err != nil {
				// The fallback cannot be armed: do not try the new thing.
				s.log.Error("cannot persist the trial; running the committed slot", "err", err)
				s.boot.Trial = nil
				continue
			}
			s.hook("trial-start")
			return runSpec{slot: t.Slot, path: s.l.Binary(t.Slot), version: si.Version, trial: true, timeout: time.Duration(t.TimeoutMS) * time.Millisecond}
		}
		active := s.boot.Active
		si, err := s.l.CheckSlot(active, s.keys())
		if err == nil {
			return runSpec{slot: active, path: s.l.Binary(active), version: si.Version}
		}
		s.log.Error("the committed slot cannot run", "slot", active, "err", err)
		from := ""
		if si != nil {
			from = si.Version
		}
		other := ota.OtherSlot(active)
		if osi, oerr := s.usable(other); oerr == nil {
			s.boot.Active, s.boot.Exits = other, nil
			s.boot.addLog(ota.BootEvent{Kind: ota.BootFallback, From: from, FromSlot: active, To: osi.Version, ToSlot: other,
				Reason: ota.ReasonInvalid, Detail: err.Error(), At: s.now()})
			s.saveLogged()
			s.hook(ota.BootFallback)
			continue
		}
		if ierr := s.installSelf(active); ierr != nil {
			s.log.Error("cannot reinstall the supervisor's binary; running it in place", "err", ierr)
			return runSpec{slot: active, path: s.o.Self, version: s.o.Version}
		}
		s.boot.addLog(ota.BootEvent{Kind: ota.BootInstalled, From: from, FromSlot: active, To: s.o.Version, ToSlot: active,
			Reason: ota.ReasonInvalid, Detail: err.Error(), At: s.now()})
		s.saveLogged()
		s.hook(ota.BootInstalled)
	}
}

// outcome is how a child's run ended.
type outcome struct {
	exit      ExitStatus
	timedOut  bool
	healthy   bool
	committed bool
	status    string
}

// runChild starts spec and serves it until it exits.
func (s *supervisor) runChild(ctx context.Context, spec runSpec) outcome {
	var out outcome
	mine, theirs, err := socketPair()
	if err != nil {
		out.exit = ExitStatus{Code: -1, Err: err}
		return out
	}
	info, err := json.Marshal(envInfo{FD: ctlFD, BootInfo: s.info(spec)})
	if err != nil { // cannot happen
		panic(err)
	}
	child, err := s.o.Start(ChildSpec{Path: spec.path, Args: s.o.Args, Env: withEnv(s.o.Env, EnvInfo, string(info)), Ctl: theirs})
	theirs.Close()
	if err != nil {
		mine.Close()
		s.log.Error("cannot start the agent", "slot", spec.slot, "path", spec.path, "err", err)
		out.exit = ExitStatus{Code: -1, Err: fmt.Errorf("start %s: %w", spec.path, err)}
		return out
	}
	s.log.Info("agent started", "slot", spec.slot, "version", spec.version, "trial", spec.trial)
	if !s.ready {
		s.ready = true
		s.notify("READY=1")
	}
	if spec.trial {
		s.notify(fmt.Sprintf("STATUS=%s (slot %s) on trial", spec.version, spec.slot))
	} else {
		s.notify(fmt.Sprintf("STATUS=%s (slot %s)", spec.version, spec.slot))
	}

	var wg sync.WaitGroup
	quit := make(chan struct{})
	exitCh := make(chan ExitStatus, 1)
	msgs := make(chan message)
	wg.Add(2)
	go func() {
		defer wg.Done()
		exitCh <- child.Wait()
	}()
	go func() {
		defer wg.Done()
		s.readControl(mine, msgs, quit)
	}()
	defer func() {
		mine.Close() // ends readControl's read
		close(quit)
		wg.Wait()
	}()

	var trialC, graceC <-chan time.Time
	var trialT, graceT clock.Timer
	if spec.trial {
		trialT = s.clock.NewTimer(spec.timeout)
		defer trialT.Stop()
		trialC = trialT.C()
	}
	stop := func(sig os.Signal) {
		if err := child.Signal(sig); err != nil {
			s.log.Warn("cannot signal the agent", "signal", sig, "err", err)
		}
		if graceT == nil {
			graceT = s.clock.NewTimer(s.o.StopGrace)
			graceC = graceT.C()
		}
	}
	defer func() {
		if graceT != nil {
			graceT.Stop()
		}
	}()
	done := ctx.Done()
	for {
		select {
		case st := <-exitCh:
			out.exit = st
			return out
		case m := <-msgs:
			s.onMessage(mine, spec, m, &out)
			if out.committed && trialT != nil {
				trialT.Stop()
				trialC = nil
			}
		case <-trialC:
			trialC = nil
			out.timedOut = true
			s.log.Warn("the new version did not report healthy in time; stopping it", "version", spec.version, "trial", spec.timeout, "last_status", out.status)
			stop(syscall.SIGTERM)
		case <-graceC:
			graceC = nil
			s.log.Warn("the agent did not stop in time; killing it", "grace", s.o.StopGrace)
			if err := child.Kill(); err != nil {
				s.log.Warn("cannot kill the agent", "err", err)
			}
		case sig := <-s.o.Signals:
			s.stopping = true
			s.notify("STOPPING=1")
			stop(sig)
		case <-done:
			done = nil
			s.stopping = true
			s.notify("STOPPING=1")
			stop(syscall.SIGTERM)
		}
	}
}

// readControl reads the agent's messages until the socket closes.
func (s *supervisor) readControl(c io.Reader, msgs chan<- message, quit <-chan struct{}) {
	r := newLineReader(c)
	for {
		line, err := r()
		if err != nil {
			return
		}
		var m message
		if err := json.Unmarshal(line, &m); err != nil {
			s.log.Warn("unreadable control message from the agent", "err", err)
			continue
		}
		select {
		case msgs <- m:
		case <-quit:
			return
		}
	}
}

// onMessage answers the agent; a health report commits a trial.
func (s *supervisor) onMessage(w io.Writer, spec runSpec, m message, out *outcome) {
	if m.Status != "" {
		out.status = shorten(m.Status, 200)
	}
	r := reply{OK: true}
	if m.Healthy {
		out.healthy = true
		s.bo.Reset()
	}
	if m.Healthy && spec.trial && !out.committed && !out.timedOut {
		ev, err := s.commit()
		if err != nil {
			r = reply{Error: "cannot commit: " + err.Error()}
		} else {
			r.Committed, r.Event = true, &ev
			out.committed = true
		}
	}
	b, _ := json.Marshal(r)
	if dl, ok := w.(interface{ SetWriteDeadline(time.Time) error }); ok {
		dl.SetWriteDeadline(time.Now().Add(5 * time.Second))
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		s.log.Warn("cannot answer the agent", "err", err)
	}
}

// commit makes the trial slot the committed one.
func (s *supervisor) commit() (ota.BootEvent, error) {
	t := s.boot.Trial
	prev := s.boot
	prevVersion := s.slotVersion(s.boot.Active)
	ev := s.boot.addLog(ota.BootEvent{Kind: ota.BootCommitted, From: prevVersion, FromSlot: s.boot.Active,
		To: t.Version, ToSlot: t.Slot, At: s.now()})
	if t.Fallback {
		ev.Reason = ota.ReasonCrashLoop
		s.boot.Log[len(s.boot.Log)-1] = ev
	}
	s.boot.Active, s.boot.Trial, s.boot.Exits = t.Slot, nil, nil
	if err := s.save(); err != nil {
		s.boot = prev
		return ota.BootEvent{}, err
	}
	s.log.Info("new version committed", "version", t.Version, "slot", t.Slot)
	s.hook(ota.BootCommitted)
	return ev, nil
}

// decide acts on how a child ended.
func (s *supervisor) decide(ctx context.Context, spec runSpec, out outcome) {
	s.log.Info("agent exited", "slot", spec.slot, "version", spec.version, "exit", out.exit.String())
	last := ""
	if out.status != "" {
		last = " (last status: " + out.status + ")"
	}
	if spec.trial && !out.committed {
		switch {
		case out.timedOut:
			s.rollback(ota.ReasonTrialTimeout, fmt.Sprintf("no health report within %v; stopped%s", spec.timeout, last))
		case out.exit.Code == ExitRestart:
			s.restarted = true // the agent asked: the same trial goes on, not a new start
		default:
			s.rollback(ota.ReasonCrashed, out.exit.String()+" before reporting healthy"+last)
		}
		return
	}
	switch out.exit.Code {
	case ExitRestart:
		return
	case ExitSwitch:
		s.switchOver()
		return
	}
	now := s.clock.Now()
	recent := s.boot.Exits[:0:0]
	for _, t := range s.boot.Exits {
		if now.Sub(time.UnixMilli(t)) < s.o.CrashLoopWindow {
			recent = append(recent, t)
		}
	}
	recent = append(recent, now.UnixMilli())
	if len(recent) > s.o.CrashLoopExits {
		recent = recent[len(recent)-s.o.CrashLoopExits:]
	}
	s.boot.Exits = recent
	if len(recent) >= s.o.CrashLoopExits {
		other := ota.OtherSlot(s.boot.Active)
		si, err := s.usable(other)
		if err == nil {
			s.boot.Trial = &Trial{Slot: other, Version: si.Version, SHA256: si.SHA256, TimeoutMS: s.trialTimeout(si).Milliseconds(), Fallback: true}
			s.boot.addLog(ota.BootEvent{Kind: ota.BootFallback, From: spec.version, FromSlot: s.boot.Active, To: si.Version, ToSlot: other,
				Reason: ota.ReasonCrashLoop, Detail: fmt.Sprintf("%d exits within %v, the last: %s", len(recent), s.o.CrashLoopWindow, out.exit), At: s.now()})
			s.boot.Exits = nil
			s.saveLogged()
			s.log.Warn("crash loop: falling back to the other slot", "from", spec.version, "to", si.Version)
			s.hook(ota.BootFallback)
			return
		}
		s.log.Error("crash loop, and the other slot cannot run; restarting with backoff", "version", spec.version, "other", err)
	}
	s.saveLogged()
	s.notify("WATCHDOG=1")
	d := s.bo.Next()
	s.log.Info("restarting the agent", "in", d, "exits", len(recent))
	t := s.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
	case <-ctx.Done():
		s.stopping = true
	case <-s.o.Signals:
		s.stopping = true
	}
}

// switchOver starts the other slot on trial, as the agent asked.
func (s *supervisor) switchOver() {
	active, other := s.boot.Active, ota.OtherSlot(s.boot.Active)
	from := s.slotVersion(active)
	si, err := s.usable(other)
	if err != nil {
		to := ""
		if si != nil {
			to = si.Version
		}
		s.boot.addLog(ota.BootEvent{Kind: ota.BootSwitchRefused, From: from, FromSlot: active, To: to, ToSlot: other,
			Reason: ota.ReasonInvalid, Detail: err.Error(), At: s.now()})
		s.saveLogged()
		s.log.Error("switch refused: the other slot cannot run", "err", err)
		s.hook(ota.BootSwitchRefused)
		return
	}
	s.boot.Trial = &Trial{Slot: other, Version: si.Version, SHA256: si.SHA256, TimeoutMS: s.trialTimeout(si).Milliseconds()}
	s.boot.addLog(ota.BootEvent{Kind: ota.BootSwitch, From: from, FromSlot: active, To: si.Version, ToSlot: other, At: s.now()})
	if err := s.save(); err != nil {
		s.log.Error("cannot persist the switch; staying on the committed slot", "err", err)
		s.boot.Trial = nil
		return
	}
	s.log.Info("switching to the new version on trial", "from", from, "to", si.Version, "slot", other)
	s.hook(ota.BootSwitch)
}

// rollback ends a failed trial: the committed slot runs again and the
// failed binary is never started again.
func (s *supervisor) rollback(reason, detail string) {
	t := s.boot.Trial
	s.boot.Trial = nil
	if t.SHA256 != "" {
		s.boot.addBad(t.SHA256)
	}
	to := s.slotVersion(s.boot.Active)
	s.boot.addLog(ota.BootEvent{Kind: ota.BootRolledBack, From: t.Version, FromSlot: t.Slot, To: to, ToSlot: s.boot.Active,
		Reason: reason, Detail: detail, At: s.now()})
	s.saveLogged()
	s.log.Warn("rolled back", "from", t.Version, "to", to, "reason", reason, "detail", detail)
	s.hook(ota.BootRolledBack)
}

// usable is CheckSlot plus "never failed a trial".
func (s *supervisor) usable(slot string) (*ota.SlotInfo, error) {
	si, err := s.l.CheckSlot(slot, s.keys())
	if err != nil {
		return si, err
	}
	if s.boot.isBad(si.SHA256) {
		return si, fmt.Errorf("slot %s (%s) failed a trial before", slot, si.Version)
	}
	return si, nil
}

func (s *supervisor) keys() []ota.PublicKey {
	if len(s.o.Keys) == 0 {
		return nil
	}
	return ota.LoadTrustedKeys(s.l, s.o.Keys)
}

func (s *supervisor) trialTimeout(si *ota.SlotInfo) time.Duration {
	if sg, err := ota.ParseSigned(si.Signed); err == nil && sg.Manifest.Trial > 0 {
		return sg.Manifest.Trial
	}
	return s.o.Trial
}

func (s *supervisor) slotVersion(slot string) string {
	si, err := s.l.ReadSlotInfo(slot)
	if err != nil {
		return ""
	}
	return si.Version
}

// info is what the child is told.
func (s *supervisor) info(spec runSpec) ota.BootInfo {
	bi := ota.BootInfo{Slot: spec.slot, Version: spec.version, Trial: spec.trial, Log: append([]ota.BootEvent(nil), s.boot.Log...)}
	if spec.trial {
		bi.TrialTimeoutMS = spec.timeout.Milliseconds()
	}
	other := ota.OtherSlot(spec.slot)
	bi.Other = ota.SlotState{Slot: other}
	si, err := s.usable(other)
	if si != nil {
		bi.Other.Version = si.Version
	}
	if err != nil {
		bi.Other.Problem = err.Error()
	} else {
		bi.Other.Valid = true
	}
	return bi
}

// installSelf copies the supervisor's own binary into a slot, then its
// slot.json.
func (s *supervisor) installSelf(slot string) error {
	dir := s.l.SlotDir(slot)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.Remove(s.l.SlotInfoPath(slot)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	src, err := os.Open(s.o.Self)
	if err != nil {
		return err
	}
	defer src.Close()
	tmp, err := os.CreateTemp(dir, ".loaxad.tmp-*")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := io.Copy(tmp, src); err != nil {
		return fmt.Errorf("copy %s: %w", s.o.Self, err)
	}
	if err := tmp.Chmod(0o755); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), s.l.Binary(slot)); err != nil {
		return err
	}
	ok = true
	if err := ota.SyncDir(dir); err != nil {
		return err
	}
	if err := ota.SyncDir(filepath.Dir(dir)); err != nil {
		return err
	}
	size, sum, err := ota.HashFile(s.l.Binary(slot))
	if err != nil {
		return err
	}
	return s.l.WriteSlotInfo(slot, &ota.SlotInfo{Version: s.o.Version, Size: size, SHA256: sum, Origin: ota.OriginFactory, Installed: s.now()})
}

func (s *supervisor) save() error { return s.store.Save(s.boot) }

func (s *supervisor) saveLogged() {
	if err := s.save(); err != nil {
		s.log.Error("cannot persist the boot document", "err", err)
	}
}

func (s *supervisor) now() int64 { return s.clock.Now().UnixMilli() }

func (s *supervisor) notify(state string) {
	if s.o.Notify != nil {
		s.o.Notify(state)
	}
}

func (s *supervisor) hook(point string) {
	if s.o.Hook != nil {
		s.o.Hook("boot:" + point)
	}
}

// withEnv returns env with key set to val (replacing any earlier value).
func withEnv(env []string, key, val string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return append(out, key+"="+val)
}

func version(s string) ota.Version {
	v, err := ota.ParseVersion(s)
	if err != nil {
		return ota.Version{}
	}
	return v
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
