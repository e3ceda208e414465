package supervisor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/loaxa/loaxa/internal/clock"
	"github.com/loaxa/loaxa/ota"
)

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

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
