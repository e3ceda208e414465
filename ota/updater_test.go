package ota

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loaxa/loaxa/internal/clock"
)

// rig is one updater on a temporary data directory, a file server and a
// fake supervisor.
type rig struct {
	t       *testing.T
	dir     string
	l       Layout
	srv     *server
	key     *PrivateKey
	clk     clock.Clock
	sup     *fakeSup
	opts    func(*Options)
	mu      sync.Mutex // guards events
	events  []event
	switch_ chan struct{}
	u       *Updater
	cancel  context.CancelFunc
	done    chan struct{}
}

type event struct {
	typ  string
	data map[string]any
}

type fakeSup struct {
	mu    sync.Mutex // guards reply, calls
	reply HealthReply
	calls int
}

func (f *fakeSup) ReportHealthy(context.Context) (HealthReply, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.reply, nil
}

// onSlotA is a pole running v1.2.0 from slot a, slot b empty.
var onSlotA = BootInfo{Supervised: true, Slot: "a", Version: "v1.2.0", Other: SlotState{Slot: "b", Problem: "slot b is empty"}}

func newRig(t *testing.T) *rig {
	r := &rig{t: t, dir: t.TempDir(), srv: newServer(t), key: testKey(1), clk: clock.Real{}, sup: &fakeSup{}}
	r.l = NewLayout(r.dir)
	return r
}

// start runs a new Updater (a new agent process, as far as the disk goes).
func (r *rig) start(boot BootInfo) *Updater {
	r.t.Helper()
	r.switch_ = make(chan struct{}, 8)
	o := Options{
		Layout: r.l, Keys: []PublicKey{r.key.Public()}, Version: boot.Version, Boot: boot, Supervisor: r.sup,
		Clock: r.clk, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Checkpoint: 64 << 10, RetryBase: time.Millisecond, RetryMax: 5 * time.Millisecond, MaxRounds: 3,
		Report: func(typ string, data map[string]any) {
			r.mu.Lock()
			r.events = append(r.events, event{typ, data})
			r.mu.Unlock()
		},
		Switch:    func() { r.switch_ <- struct{}{} },
		FreeSpace: func(string) (uint64, error) { return 1 << 40, nil },
	}
	if r.opts != nil {
		r.opts(&o)
	}
	u := New(o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		u.Run(ctx)
	}()
	r.u, r.cancel, r.done = u, cancel, done
	r.t.Cleanup(r.stop)
	return u
}

// release is a manifest valid now by the rig's clock.
func (r *rig) release(version string, bin []byte, urls ...string) Manifest {
	m := release(version, bin, urls...)
	now := r.clk.Now()
	m.Issued, m.Expires = now.Add(-time.Hour), now.Add(30*24*time.Hour)
	return m
}

func (r *rig) stop() {
	if r.cancel != nil {
		r.cancel()
		<-r.done
		r.cancel = nil
	}
}

// waitFor polls cond: a readiness wait, not a timing assertion.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (r *rig) waitState(s StateName) {
	r.t.Helper()
	waitFor(r.t, "state "+string(s), func() bool { return r.u.Status().State == s })
}

func (r *rig) waitEvent(typ string) map[string]any {
	r.t.Helper()
	var found map[string]any
	waitFor(r.t, "event "+typ, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, e := range r.events {
			if e.typ == typ {
				found = e.data
				return true
			}
		}
		return false
	})
	return found
}

func (r *rig) eventTypes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if e.typ != "ota.progress" {
			out = append(out, e.typ)
		}
	}
	return out
}

func (r *rig) doc() Doc {
	d, err := FileStore{Path: r.l.UpdateDoc()}.Load()
	if err != nil {
		r.t.Fatal(err)
	}
	return d
}

func submit(t *testing.T, u *Updater, raw []byte) (Accepted, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return u.Submit(ctx, raw)
}

func TestGoodReleaseIsInstalledThenSwitched(t *testing.T) {
	r := newRig(t)
	bin := fakeBinary(300<<10, 1)
	m := r.release("v1.3.0", bin, r.srv.put("loaxad", bin))
	u := r.start(onSlotA)
	acc, err := submit(t, u, signDoc(m, r.key))
	if err != nil || acc.Version != "v1.3.0" || acc.State != StateVerified {
		t.Fatalf("Submit = %+v, %v", acc, err)
	}
	<-r.switch_
	if s := u.Status(); s.State != StateSwitching || s.Other.Version != "v1.3.0" || s.Other.Slot != "b" {
		t.Errorf("status %+v", s)
	}
	if err := FileMatches(r.l.Binary("b"), m.Size, m.SHA256); err != nil {
		t.Errorf("slot b: %v", err)
	}
	if fi, err := os.Stat(r.l.Binary("b")); err != nil || fi.Mode().Perm()&0o111 == 0 {
		t.Errorf("slot b is not executable: %v %v", fi.Mode(), err)
	}
	if si, err := r.l.CheckSlot("b", []PublicKey{r.key.Public()}); err != nil || si.Version != "v1.3.0" || si.Origin != OriginOTA {
		t.Errorf("CheckSlot(b) = %+v, %v", si, err)
	}
	if _, err := os.Stat(r.l.Part()); !os.IsNotExist(err) {
		t.Errorf("download.part is left: %v", err)
	}
	d := r.doc()
	if d.Highest != "v1.3.0" || d.Update.State != StateSwitching || d.Update.Transitions != 4 {
		t.Errorf("doc highest %q, state %s, transitions %d", d.Highest, d.Update.State, d.Update.Transitions)
	}
	want := "ota.installed ota.switching"
	if got := strings.Join(r.eventTypes(), " "); got != want {
		t.Errorf("events %q, want %q", got, want)
	}
	if p := r.waitEvent("ota.progress"); p["version"] != "v1.3.0" {
		t.Errorf("progress %v", p)
	}
	if got := r.srv.served.Load(); got != m.Size {
		t.Errorf("served %d bytes for a %d-byte release", got, m.Size)
	}
}

// Every refusal leaves every file as it was and says why in its own words.
func TestRefusalsChangeNothing(t *testing.T) {
	r := newRig(t)
	bin := fakeBinary(64<<10, 2)
	url := r.srv.put("loaxad", bin)
	u := r.start(onSlotA)
	// A first release is accepted and waits for a gap, so that there is
	// something to replay.
	u.SetBusy("emergency")
	v13 := r.release("v1.3.0", bin, url)
	if _, err := submit(t, u, signDoc(v13, r.key)); err != nil {
		t.Fatal(err)
	}
	r.waitState(StateInstalled)
	with := func(version string, f func(m *Manifest)) Manifest {
		m := r.release(version, bin, url)
		if f != nil {
			f(&m)
		}
		return m
	}
	tampered := strings.Replace(string(signDoc(with("v1.4.0", nil), r.key)), `"size":65536`, `"size":65537`, 1)
	tests := []struct {
		name string
		raw  []byte
		code string
	}{
		{"bad signature", []byte(tampered), "bad_signature"},
		{"unknown key", signDoc(with("v1.4.0", nil), testKey(9)), "unknown_key"},
		{"expired", signDoc(with("v1.4.0", func(m *Manifest) { m.Expires = time.Now().Add(-time.Minute) }), r.key), "expired"},
		{"not yet valid", signDoc(with("v1.4.0", func(m *Manifest) { m.Issued = time.Now().Add(time.Hour) }), r.key), "not_yet_valid"},
		{"wrong arch", signDoc(with("v1.4.0", func(m *Manifest) { m.Arch = "mips" }), r.key), "wrong_arch"},
		{"too large", signDoc(with("v1.4.0", func(m *Manifest) { m.Size = 1 << 40 }), r.key), "too_large"},
		{"downgrade", signDoc(with("v1.1.0", nil), r.key), "downgrade"},
		{"replay of an older manifest", signDoc(with("v1.2.5", nil), r.key), "replay"},
		{"replay of the same version, another manifest", signDoc(with("v1.3.0", func(m *Manifest) { m.Notes = "again" }), r.key), "replay"},
		{"malformed", []byte(`{"manifest":{"format":1}}`), "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := snapshot(t, r.dir)
			_, err := submit(t, u, tt.raw)
			if Code(err) != tt.code {
				t.Errorf("= %v (code %s), want code %s", err, Code(err), tt.code)
			}
			if after := snapshot(t, r.dir); mustJSON(after) != mustJSON(before) {
				t.Errorf("files changed:\nbefore %v\nafter  %v", before, after)
			}
			if s := u.Status(); s.State != StateInstalled || s.Target != "v1.3.0" {
				t.Errorf("the accepted update moved: %+v", s)
			}
		})
	}
	// The identical manifest again (a QoS 1 redelivery) is not an error.
	if acc, err := submit(t, u, signDoc(v13, r.key)); err != nil || !acc.Resumed || acc.State != StateInstalled {
		t.Errorf("the same manifest again = %+v, %v", acc, err)
	}
}

func TestTamperedBinaryIsRefusedAndTheSlotUntouched(t *testing.T) {
	r := newRig(t)
	bin := fakeBinary(200<<10, 3)
	evil := fakeBinary(200<<10, 4)
	m := r.release("v1.3.0", bin, r.srv.put("loaxad", evil))
	os.MkdirAll(r.l.SlotDir("b"), 0o755)
	os.WriteFile(r.l.Binary("b"), []byte("previous release"), 0o755)
	before := snapshot(t, r.l.SlotDir("b"))
	u := r.start(onSlotA)
	if _, err := submit(t, u, signDoc(m, r.key)); err != nil {
		t.Fatal(err)
	}
	r.waitState(StateFailed)
	f := r.waitEvent("ota.failed")
	if f["code"] != "hash_mismatch" || f["state"] != "downloading" {
		t.Errorf("ota.failed %v", f)
	}
	if s := u.Status(); s.Error == nil || s.Error.Code != "hash_mismatch" {
		t.Errorf("status error %+v", s.Error)
	}
	if after := snapshot(t, r.l.SlotDir("b")); mustJSON(after) != mustJSON(before) {
		t.Errorf("slot b changed")
	}
	if _, err := os.Stat(r.l.Part()); !os.IsNotExist(err) {
		t.Errorf("the bad download was kept: %v", err)
	}
}

// A download cut four times mid-body resumes with Range each time and
// never fetches a byte twice.
func TestDownloadResumesAfterCuts(t *testing.T) {
	r := newRig(t)
	bin := fakeBinary(1<<20, 5)
	m := r.release("v1.3.0", bin, r.srv.put("loaxad", bin))
	r.srv.cutAfter(100_000, 250_000, 7, 300_000)
	u := r.start(onSlotA)
	if _, err := submit(t, u, signDoc(m, r.key)); err != nil {
		t.Fatal(err)
	}
	<-r.switch_
	if got := r.srv.served.Load(); got != m.Size {
		t.Errorf("served %d bytes for a %d-byte release: it started over", got, m.Size)
	}
	want := []string{"", "bytes=100000-", "bytes=350000-", "bytes=350007-", "bytes=650007-"}
	if got := r.srv.rangeHeaders(); mustJSON(got) != mustJSON(want) {
		t.Errorf("requests %q, want %q", got, want)
	}
}

// The agent stops mid-download; the next one resumes from the last
// checkpoint on disk, not from zero.
func TestDownloadResumesAfterRestart(t *testing.T) {
	r := newRig(t)
	bin := fakeBinary(1<<20, 6)
	m := r.release("v1.3.0", bin, r.srv.put("loaxad", bin))
	stopAt, unblock := make(chan struct{}), make(chan struct{})
	var once sync.Once
	r.opts = func(o *Options) {
		o.Hook = func(point string, n int64) {
			if point == "download" && n >= 400_000 {
				// Hold the download here until the agent is stopping.
				once.Do(func() {
					close(stopAt)
					<-unblock
				})
			}
		}
	}
	u := r.start(onSlotA)
	if _, err := submit(t, u, signDoc(m, r.key)); err != nil {
		t.Fatal(err)
	}
	<-stopAt
	r.cancel()
	close(unblock)
	r.stop()
	d := r.doc()
	if d.Update.State != StateDownloading || d.Update.Offset < 64<<10 {
		t.Fatalf("persisted %s at offset %d", d.Update.State, d.Update.Offset)
	}
	r.opts = nil
	before := r.srv.served.Load()
	r.start(onSlotA)
	<-r.switch_
	hdrs := r.srv.rangeHeaders()
	if last := hdrs[len(hdrs)-1]; last != "bytes="+strconv.FormatInt(d.Update.Offset, 10)+"-" {
		t.Errorf("resumed with %q, checkpoint was %d", last, d.Update.Offset)
	}
	if second := r.srv.served.Load() - before; second != m.Size-d.Update.Offset {
		t.Errorf("the second run fetched %d bytes; %d were missing", second, m.Size-d.Update.Offset)
	}
}

func TestSwitchWaitsForAGap(t *testing.T) {
	r := newRig(t)
	bin := fakeBinary(64<<10, 7)
	m := r.release("v1.3.0", bin, r.srv.put("loaxad", bin))
	u := r.start(onSlotA)
	u.SetBusy("emergency")
	if _, err := submit(t, u, signDoc(m, r.key)); err != nil {
		t.Fatal(err)
	}
	r.waitState(StateInstalled)
	u.SetBusy("live")
	waitFor(t, "waiting_for live", func() bool { return u.Status().WaitingFor == "live" })
	select {
	case <-r.switch_:
		t.Fatal("switched while an emergency played")
	default:
	}
	u.SetBusy("")
	<-r.switch_
}

// With switch_by passed and no gap, the update gives up; the same
// manifest sent again installs without downloading again.
func TestNoGapGivesUpAndTheSameManifestResumes(t *testing.T) {
	r := newRig(t)
	fake := clock.NewFake(t0)
	r.clk = fake
	bin := fakeBinary(64<<10, 8)
	m := r.release("v1.3.0", bin, r.srv.put("loaxad", bin))
	m.SwitchBy = t0.Add(time.Hour)
	raw := signDoc(m, r.key)
	u := r.start(onSlotA)
	u.SetBusy("scheduled bt-0612")
	if _, err := submit(t, u, raw); err != nil {
		t.Fatal(err)
	}
	r.waitState(StateInstalled)
	waitFor(t, "the gap timer", func() bool { return fake.Waiters() > 0 })
	fake.Advance(time.Hour)
	r.waitState(StateFailed)
	if f := r.waitEvent("ota.failed"); f["code"] != "no_gap" {
		t.Errorf("failed %v", f)
	}
	served := r.srv.served.Load()
	acc, err := submit(t, u, raw)
	if err != nil || !acc.Resumed {
		t.Fatalf("the same manifest after no_gap = %+v, %v", acc, err)
	}
	r.waitState(StateFailed) // switch_by is still past: at once
	fake2 := m
	fake2.Version, _ = ParseVersion("v1.3.1")
	fake2.SwitchBy = t0.Add(3 * time.Hour)
	fake2.Issued = t0
	if _, err := submit(t, u, signDoc(fake2, r.key)); err != nil {
		t.Fatal(err)
	}
	u.SetBusy("")
	<-r.switch_
	if got := r.srv.served.Load(); got != served {
		t.Errorf("downloaded %d bytes again; the slot already held them", got-served)
	}
}

func TestFullDiskIsRefusedBeforeAnythingIsWritten(t *testing.T) {
	r := newRig(t)
	r.opts = func(o *Options) { o.FreeSpace = func(string) (uint64, error) { return 4 << 20, nil } }
	bin := fakeBinary(1<<20, 9)
	m := r.release("v1.3.0", bin, r.srv.put("loaxad", bin))
	u := r.start(onSlotA)
	before := snapshot(t, r.dir)
	_, err := submit(t, u, signDoc(m, r.key))
	if !errors.Is(err, ErrDiskFull) || !strings.Contains(err.Error(), "nothing was changed") {
		t.Errorf("= %v, want ErrDiskFull", err)
	}
	if mustJSON(snapshot(t, r.dir)) != mustJSON(before) {
		t.Error("files changed")
	}
}

func TestUnsupervisedAgentRefuses(t *testing.T) {
	r := newRig(t)
	bin := fakeBinary(1024, 10)
	u := r.start(BootInfo{Version: "v1.2.0"})
	_, err := submit(t, u, signDoc(r.release("v1.3.0", bin, r.srv.put("x", bin)), r.key))
	if !errors.Is(err, ErrUnsupervised) || AckCode(err) != "unsupported" {
		t.Errorf("= %v", err)
	}
}

// switched prepares a data directory as the agent leaves it when it asks
// for the switch to v1.3.0 in slot b.
func switched(t *testing.T, r *rig) (Manifest, []byte) {
	t.Helper()
	bin := fakeBinary(64<<10, 11)
	m := r.release("v1.3.0", bin, r.srv.put("loaxad", bin))
	raw := signDoc(m, r.key)
	u := r.start(onSlotA)
	if _, err := submit(t, u, raw); err != nil {
		t.Fatal(err)
	}
	<-r.switch_
	r.stop()
	r.mu.Lock()
	r.events = nil
	r.mu.Unlock()
	return m, raw
}

func TestTrialIsCommittedWhenHealthy(t *testing.T) {
	r := newRig(t)
	_, raw := switched(t, r)
	boot := BootInfo{Supervised: true, Slot: "b", Version: "v1.3.0", Trial: true, Other: SlotState{Slot: "a", Version: "v1.2.0", Valid: true},
		Log: []BootEvent{{Seq: 1, Kind: BootInstalled, To: "v1.2.0", ToSlot: "a"}, {Seq: 2, Kind: BootSwitch, From: "v1.2.0", To: "v1.3.0", ToSlot: "b"}}}
	u := r.start(boot)
	r.waitState(StateTrial)
	if _, err := submit(t, u, raw); !errors.Is(err, ErrBusy) || AckCode(err) != "busy" {
		t.Errorf("a manifest during the trial = %v, want busy", err)
	}
	r.sup.mu.Lock()
	r.sup.reply = HealthReply{Committed: true, Event: &BootEvent{Seq: 3, Kind: BootCommitted, From: "v1.2.0", FromSlot: "a", To: "v1.3.0", ToSlot: "b"}}
	r.sup.mu.Unlock()
	u.Healthy()
	r.waitState(StateCommitted)
	if c := r.waitEvent("ota.committed"); c["version"] != "v1.3.0" {
		t.Errorf("committed %v", c)
	}
	if s := u.Status(); s.Trial || s.Version != "v1.3.0" || s.Other.Version != "v1.2.0" {
		t.Errorf("status %+v", s)
	}
	r.stop()
	if d := r.doc(); d.SeenSeq != 3 || d.Update.State != StateCommitted {
		t.Errorf("doc seen %d state %s", d.SeenSeq, d.Update.State)
	}
	// The next start reports nothing again.
	boot.Trial = false
	boot.Log = append(boot.Log, BootEvent{Seq: 3, Kind: BootCommitted, To: "v1.3.0", ToSlot: "b"})
	r.start(boot)
	r.waitState(StateCommitted)
	r.stop()
	if got := r.eventTypes(); len(got) != 1 {
		t.Errorf("events %v, want one ota.committed", got)
	}
}

func TestRollbackIsReportedOnceByTheOldAgent(t *testing.T) {
	r := newRig(t)
	_, raw := switched(t, r)
	boot := onSlotA
	boot.Other = SlotState{Slot: "b", Version: "v1.3.0", Problem: "failed a trial"}
	boot.Log = []BootEvent{
		{Seq: 4, Kind: BootSwitch, From: "v1.2.0", To: "v1.3.0", ToSlot: "b"},
		{Seq: 5, Kind: BootRolledBack, From: "v1.3.0", FromSlot: "b", To: "v1.2.0", ToSlot: "a", Reason: ReasonCrashed, Detail: "exit status 2 before reporting healthy"},
	}
	u := r.start(boot)
	r.waitState(StateRolledBack)
	rb := r.waitEvent("ota.rolled_back")
	if rb["version"] != "v1.3.0" || rb["running"] != "v1.2.0" || rb["reason"] != "crashed" || rb["detail"] != "exit status 2 before reporting healthy" {
		t.Errorf("rolled_back %v", rb)
	}
	if s := u.Status(); s.Error == nil || s.Error.Code != "crashed" {
		t.Errorf("status error %+v", s.Error)
	}
	// The rolled-back release is never accepted again.
	if _, err := submit(t, u, raw); !errors.Is(err, ErrReplay) {
		t.Errorf("the rolled-back manifest again = %v, want replay", err)
	}
	r.stop()
	r.start(boot)
	r.waitState(StateRolledBack)
	r.stop()
	if got := r.eventTypes(); len(got) != 1 {
		t.Errorf("events %v, want one ota.rolled_back", got)
	}
}

// The agent was killed after asking for the switch, before the supervisor
// saw it: the old version comes back and asks again.
func TestSwitchAskedAgainAfterAKill(t *testing.T) {
	r := newRig(t)
	switched(t, r)
	r.start(onSlotA)
	<-r.switch_
	if d := r.doc(); d.Update.State != StateSwitching || d.Update.Transitions != 6 {
		t.Errorf("state %s after %d transitions", d.Update.State, d.Update.Transitions)
	}
}

func TestKeyRotation(t *testing.T) {
	r := newRig(t)
	k2 := testKey(2)
	bin := fakeBinary(64<<10, 12)
	url := r.srv.put("loaxad", bin)
	u := r.start(onSlotA)
	u.SetBusy("emergency")
	m := r.release("v1.3.0", bin, url)
	m.Keys = []PublicKey{k2.Public()}
	if _, err := submit(t, u, signDoc(m, r.key)); err != nil {
		t.Fatal(err)
	}
	r.waitState(StateInstalled)
	next := r.release("v1.4.0", bin, url)
	if _, err := submit(t, u, signDoc(next, r.key)); Code(err) != "unknown_key" {
		t.Errorf("signed by the retired key = %v, want unknown_key", err)
	}
	if _, err := submit(t, u, signDoc(next, k2)); err != nil {
		t.Errorf("signed by the new key = %v", err)
	}
	r.stop()
	// The list survives a restart.
	u = r.start(onSlotA)
	if _, err := submit(t, u, signDoc(r.release("v1.5.0", bin, url), r.key)); Code(err) != "unknown_key" {
		t.Errorf("after a restart, signed by the retired key = %v", err)
	}
}

func TestCorruptDocumentKeepsReplayProtection(t *testing.T) {
	r := newRig(t)
	os.MkdirAll(r.l.Dir, 0o755)
	os.WriteFile(r.l.UpdateDoc(), []byte("{torn"), 0o644)
	bin := fakeBinary(1024, 13)
	boot := onSlotA
	boot.Other = SlotState{Slot: "b", Version: "v1.4.0", Valid: true}
	u := r.start(boot)
	waitFor(t, "the load", func() bool { return u.Status().Error != nil })
	if s := u.Status(); s.Error.Code != "state_corrupted" {
		t.Errorf("status error %+v", s.Error)
	}
	if _, err := os.Stat(r.l.UpdateDoc() + ".corrupt"); err != nil {
		t.Errorf("the torn document was not kept aside: %v", err)
	}
	// Slot b holds v1.4.0: v1.3.0 is a replay even though the record of
	// accepting v1.4.0 is lost.
	if _, err := submit(t, u, signDoc(r.release("v1.3.0", bin, r.srv.put("x", bin)), r.key)); !errors.Is(err, ErrReplay) {
		t.Errorf("= %v, want replay", err)
	}
}

// A newer release replaces one waiting for a gap, and the old one's
// switch_by no longer applies.
func TestNewerReleaseReplacesAWaitingOne(t *testing.T) {
	r := newRig(t)
	fake := clock.NewFake(t0)
	r.clk = fake
	bin := fakeBinary(64<<10, 14)
	url := r.srv.put("loaxad", bin)
	old := r.release("v1.3.0", bin, url)
	old.SwitchBy = t0.Add(time.Hour)
	u := r.start(onSlotA)
	u.SetBusy("live")
	if _, err := submit(t, u, signDoc(old, r.key)); err != nil {
		t.Fatal(err)
	}
	r.waitState(StateInstalled)
	waitFor(t, "the gap timer", func() bool { return fake.Waiters() > 0 })
	if _, err := submit(t, u, signDoc(r.release("v1.3.1", bin, url), r.key)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "v1.3.1 installed", func() bool { s := u.Status(); return s.State == StateInstalled && s.Target == "v1.3.1" })
	fake.Advance(2 * time.Hour)
	u.SetBusy("")
	<-r.switch_
	if s := u.Status(); s.State != StateSwitching || s.Target != "v1.3.1" {
		t.Errorf("status %+v", s)
	}
}

// gatedStore is a FileStore whose Save waits for the test.
type gatedStore struct {
	FileStore
	saving chan struct{} // receives when a Save begins
	gate   chan struct{} // closed to let it finish
}

func (g gatedStore) Save(d Doc) error {
	g.saving <- struct{}{}
	<-g.gate
	return g.FileStore.Save(d)
}

// The status names the slot only once the updater has taken in what the
// supervisor did since the last run (and saved that it did): an operator
// or a test that sees the pole on its slot sees a settled data directory,
// which the next command then changes or not. (Seen in CI: a refused
// manifest "changed the data directory" because the first start's record
// of the factory install was still being written.)
func TestStatusWaitsForTheBootLogToBeRecorded(t *testing.T) {
	r := newRig(t)
	g := gatedStore{FileStore: FileStore{Path: r.l.UpdateDoc()}, saving: make(chan struct{}), gate: make(chan struct{})}
	r.opts = func(o *Options) { o.Store = g }
	boot := onSlotA
	boot.Log = []BootEvent{{Seq: 1, Kind: BootInstalled, To: "v1.2.0", ToSlot: "a"}}
	u := r.start(boot)
	<-g.saving
	if s := u.Status(); s.Slot != "" {
		t.Errorf("while the boot log is being recorded the status says %+v", s)
	}
	close(g.gate)
	waitFor(t, "the slot in the status", func() bool { return u.Status().Slot == "a" })
	r.stop()
	if d := r.doc(); d.SeenSeq != 1 {
		t.Errorf("seen seq %d, want 1", d.SeenSeq)
	}
}
