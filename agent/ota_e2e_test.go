package agent_test

// End-to-end over-the-air updates (issue 12): the real loaxad, built by the
// test at two versions, run by the real supervisor (`loaxad supervise`, as
// systemd runs it) on a blank data directory, against a real mosquitto and
// an HTTP server holding the releases, and driven over MQTT as an operator
// would. Broken releases are agent/testdata/brokenloaxad.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/internal/mqtttest"
	"github.com/loaxa/loaxa/internal/testbin"
	"github.com/loaxa/loaxa/internal/testenv"
	"github.com/loaxa/loaxa/ota"
	"github.com/loaxa/loaxa/ota/supervisor"
)

// otaWait bounds each wait of these tests: generous, since a trial that
// must time out takes its trial_s (10 s) plus, for a release that ignores
// SIGTERM, the supervisor's 15 s grace, on a loaded machine.
const otaWait = 120 * time.Second

// otaKit is what the subtests share: the broker, the signing key, the
// release server and the binaries.
type otaKit struct {
	b    *mqtttest.Broker
	key  *ota.PrivateKey
	srv  *releaseServer
	old  string // loaxad v1.0.0: what the poles are installed with
	good string // loaxad v1.1.0
	bins string // where the broken releases are built
}

func TestE2EOTA(t *testing.T) {
	if testing.Short() {
		t.Skip("builds loaxad twice and runs update trials")
	}
	k := &otaKit{b: mqtttest.Start(t), srv: newReleaseServer(t), bins: t.TempDir()}
	var err error
	if k.key, err = ota.GenerateKey(); err != nil {
		t.Fatal(err)
	}
	modes := []string{"crash", "hang", "noconnect"}
	broken := k.buildBroken(modes...) // while testbin builds loaxad
	if k.old, err = testbin.Path("loaxad", "-X main.version=v1.0.0"); err != nil {
		t.Fatal(err)
	}
	if k.good, err = testbin.Path("loaxad", "-X main.version=v1.1.0"); err != nil {
		t.Fatal(err)
	}
	if err := <-broken; err != nil {
		t.Fatal(err)
	}
	t.Run("good release", func(t *testing.T) { t.Parallel(); k.goodRelease(t) })
	t.Run("refused", func(t *testing.T) { t.Parallel(); k.refused(t) })
	t.Run("killed", func(t *testing.T) { t.Parallel(); k.killed(t) })
	for _, tc := range []struct{ mode, reason, detail string }{
		{"crash", ota.ReasonCrashed, "exit status 3"},
		{"hang", ota.ReasonTrialTimeout, "no health report"},
		{"noconnect", ota.ReasonTrialTimeout, "broker not connected"},
	} {
		bin := filepath.Join(k.bins, "brokenloaxad-"+tc.mode)
		t.Run("rolled back/"+tc.mode, func(t *testing.T) { t.Parallel(); k.rolledBack(t, bin, tc.mode, tc.reason, tc.detail) })
	}
}

// goodRelease: a release whose download is cut three times, installed
// while an emergency plays, switched to at the gap, committed; the pole
// reports the new version.
func (k *otaKit) goodRelease(t *testing.T) {
	p := k.pole(t, "ota-good")
	p.await("v1.0.0 running from slot a", isState(func(s wire.State) bool {
		return s.Version == "v1.0.0" && s.OTA != nil && s.OTA.Slot == "a" && s.OTA.State == ota.StateIdle
	}))
	// A blank data directory: the supervisor installed its own binary.
	si, err := ota.NewLayout(p.dir).ReadSlotInfo("a")
	if err != nil || si.Origin != ota.OriginFactory || si.Version != "v1.0.0" {
		t.Fatalf("slot a after the first start: %+v, %v", si, err)
	}

	// An emergency plays: the switch must wait for its end.
	p.send("e1", "play", `{"source":"tone:440","priority":"emergency","item":"alerte"}`)
	p.await("the emergency on air", isState(func(s wire.State) bool { return s.Playing != nil && s.Playing.Item == "alerte" }))

	size := fileSize(t, k.good)
	rel := k.srv.add(t, "/v1.1.0/loaxad", k.good, k.good, cutAt(size/5), cutAt(size/4), cutAt(size/3))
	published := time.Now()
	p.send("u1", "ota", string(k.sign(t, k.manifest(t, "v1.1.0", rel, nil))))
	ack := p.awaitAck("u1")
	if !ack.OK || !strings.Contains(string(ack.Result), `"version":"v1.1.0"`) || !strings.Contains(string(ack.Result), `"state":"verified"`) {
		t.Fatalf("ota ack: %s", ack.raw)
	}
	p.await("ota.installed", isEvent("ota.installed", func(d map[string]any) bool { return d["version"] == "v1.1.0" && d["slot"] == "b" }))
	installed := time.Now()
	p.await("the update waiting for the emergency", isState(func(s wire.State) bool {
		return s.OTA != nil && s.OTA.State == ota.StateInstalled && s.OTA.WaitingFor == "emergency" && s.Version == "v1.0.0"
	}))
	p.send("s1", "stop", `{"item":"alerte"}`)
	gap := time.Now()
	p.await("ota.switching", isEvent("ota.switching", func(d map[string]any) bool { return d["version"] == "v1.1.0" }))
	p.await("ota.committed", isEvent("ota.committed", func(d map[string]any) bool { return d["version"] == "v1.1.0" && d["slot"] == "b" }))
	p.await("the state of v1.1.0, committed", isState(func(s wire.State) bool {
		o := s.OTA
		return s.Version == "v1.1.0" && o != nil && o.Version == "v1.1.0" && o.Slot == "b" && !o.Trial && o.State == ota.StateCommitted &&
			o.Other != nil && o.Other.Slot == "a" && o.Other.Version == "v1.0.0" && o.Other.Valid
	}))
	p.await("online as v1.1.0", isStatus(func(s wire.Status) bool { return s.Online && s.Version == "v1.1.0" }))
	t.Logf("published to installed (%d MB, three cuts): %v; end of the emergency to committed: %v",
		size>>20, installed.Sub(published).Round(time.Millisecond), time.Since(gap).Round(time.Millisecond))

	// The download resumed where each cut left it: no byte twice.
	reqs := k.srv.requests("/v1.1.0/loaxad")
	var got int64
	for i, r := range reqs {
		if r.start != got {
			t.Errorf("request %d asked from byte %d, %d bytes had arrived: %+v", i, r.start, got, reqs)
		}
		got += r.sent
	}
	if len(reqs) != 4 || got != size {
		t.Errorf("%d requests fetched %d bytes of %d, want 4 requests and every byte once: %+v", len(reqs), got, size, reqs)
	}
	if _, err := os.Stat(ota.NewLayout(p.dir).Part()); !os.IsNotExist(err) {
		t.Errorf("download.part left after the commit: %v", err)
	}
}

// refused: each bad manifest is refused with its own code and changes
// nothing; a tampered binary fails after its download without touching
// the slot; an older manifest is then a replay.
func (k *otaKit) refused(t *testing.T) {
	p := k.pole(t, "ota-refused")
	p.await("v1.0.0 running", isState(func(s wire.State) bool { return s.Version == "v1.0.0" && s.OTA != nil && s.OTA.Slot == "a" }))
	blob := filepath.Join(t.TempDir(), "loaxad")
	data := make([]byte, 256<<10)
	rand.Read(data)
	if err := os.WriteFile(blob, data, 0o755); err != nil {
		t.Fatal(err)
	}
	rel := k.srv.add(t, "/refused/loaxad", blob, blob)
	stranger, _ := ota.GenerateKey()
	otherArch := "armv6"
	if ota.Arch() == otherArch {
		otherArch = "arm64"
	}
	changed := func(m *ota.Manifest) []byte {
		s := ota.Signed{Manifest: *m, Signatures: []ota.Signature{k.key.Sign(m)}}
		s.Manifest.Notes = "changed after signing"
		return s.Marshal()
	}
	for _, tc := range []struct {
		name, code string
		raw        []byte
	}{
		{"bad signature", "bad_signature", changed(k.manifest(t, "v1.2.0", rel, nil))},
		{"unknown key", "unknown_key", signWith(stranger, k.manifest(t, "v1.2.0", rel, nil))},
		{"wrong arch", "wrong_arch", k.sign(t, k.manifest(t, "v1.2.0", rel, func(m *ota.Manifest) { m.Arch = otherArch }))},
		{"expired", "expired", k.sign(t, k.manifest(t, "v1.2.0", rel, func(m *ota.Manifest) {
			m.Issued, m.Expires = time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour)
		}))},
		{"downgrade", "downgrade", k.sign(t, k.manifest(t, "v0.9.0", rel, nil))},
		{"not a manifest", "malformed", []byte(`{"manifest":{"format":1},"signatures":[]}`)},
	} {
		before := snapshot(t, p.dir)
		id := "r-" + strings.ReplaceAll(tc.name, " ", "-")
		p.send(id, "ota", string(tc.raw))
		p.expectRefusal(id, "bad_args", tc.code)
		if after := snapshot(t, p.dir); after != before {
			t.Errorf("%s: the data directory changed:\nbefore %s\nafter  %s", tc.name, before, after)
		}
	}

	// A binary tampered with on the server: downloaded, refused, slot b
	// never written.
	tampered := filepath.Join(t.TempDir(), "loaxad")
	if err := os.WriteFile(tampered, append(append([]byte{}, data[:len(data)-1]...), data[len(data)-1]^1), 0o755); err != nil {
		t.Fatal(err)
	}
	bad := k.srv.add(t, "/tampered/loaxad", blob, tampered)
	p.send("r-tampered", "ota", string(k.sign(t, k.manifest(t, "v1.2.0", bad, nil))))
	if ack := p.awaitAck("r-tampered"); !ack.OK {
		t.Fatalf("a well-signed manifest was refused: %s", ack.raw)
	}
	p.await("ota.failed hash_mismatch", isEvent("ota.failed", func(d map[string]any) bool {
		return d["version"] == "v1.2.0" && d["code"] == "hash_mismatch"
	}))
	p.await("the state saying so", isState(func(s wire.State) bool {
		return s.Version == "v1.0.0" && s.OTA != nil && s.OTA.State == ota.StateFailed && s.OTA.Error != nil && s.OTA.Error.Code == "hash_mismatch"
	}))
	l := ota.NewLayout(p.dir)
	if _, err := l.ReadSlotInfo("b"); err == nil {
		t.Error("slot b was written from a tampered download")
	}
	if _, err := os.Stat(l.Part()); !os.IsNotExist(err) {
		t.Errorf("the tampered download was kept: %v", err)
	}

	// v1.2.0 was accepted: v1.1.0, newer than what runs, is a replay.
	before := snapshot(t, p.dir)
	p.send("r-replay", "ota", string(k.sign(t, k.manifest(t, "v1.1.0", rel, nil))))
	p.expectRefusal("r-replay", "bad_args", "replay")
	if after := snapshot(t, p.dir); after != before {
		t.Errorf("replay: the data directory changed:\nbefore %s\nafter  %s", before, after)
	}
	p.await("still v1.0.0", isState(func(s wire.State) bool { return s.Version == "v1.0.0" }))
	if p.offline {
		t.Error("the agent went offline: a refusal restarted it")
	}
}

// rolledBack: a release that crashes, hangs or never connects is rolled
// back; the old version runs again, online, and says why.
func (k *otaKit) rolledBack(t *testing.T, bin, mode, reason, detail string) {
	p := k.pole(t, "ota-"+mode)
	p.await("v1.0.0 running", isState(func(s wire.State) bool { return s.Version == "v1.0.0" && s.OTA != nil && s.OTA.Slot == "a" }))
	rel := k.srv.add(t, "/"+mode+"/loaxad", bin, bin)
	p.send("u1", "ota", string(k.sign(t, k.manifest(t, "v1.1.0", rel, func(m *ota.Manifest) { m.Trial = 10 * time.Second }))))
	if ack := p.awaitAck("u1"); !ack.OK {
		t.Fatalf("ota ack: %s", ack.raw)
	}
	p.await("ota.switching", isEvent("ota.switching", func(d map[string]any) bool { return d["version"] == "v1.1.0" }))
	ev := p.await("ota.rolled_back", isEvent("ota.rolled_back", func(d map[string]any) bool {
		return d["version"] == "v1.1.0" && d["running"] == "v1.0.0"
	}))
	var e wire.Event
	json.Unmarshal(ev.Payload, &e)
	if e.Data["reason"] != reason || !strings.Contains(fmt.Sprint(e.Data["detail"]), detail) {
		t.Errorf("rolled back with %v (%v), want %s mentioning %q", e.Data["reason"], e.Data["detail"], reason, detail)
	}
	p.await("v1.0.0 online again", isStatus(func(s wire.Status) bool { return s.Online && s.Version == "v1.0.0" && s.Session > 1 }))
	p.await("the state saying so", isState(func(s wire.State) bool {
		o := s.OTA
		return s.Version == "v1.0.0" && o != nil && o.Slot == "a" && o.State == ota.StateRolledBack && o.Error != nil &&
			o.Error.Code == reason && o.Other != nil && o.Other.Slot == "b" && !o.Other.Valid
	}))
}

// killed: SIGKILL at three points of an update, as systemd would see
// them (it starts the supervisor again when it died): a power cut in the
// middle of the download, the agent alone killed while the installed
// release waits for a gap, and a power cut while the new version runs on
// trial (its broker away, so it cannot report healthy yet). Each time the
// pole comes back on a valid version, and the update finishes: committed.
func (k *otaKit) killed(t *testing.T) {
	b := mqtttest.Start(t) // its own: this test stops it
	p := k.poleOn(t, b, "ota-killed")
	p.await("v1.0.0 running", isState(func(s wire.State) bool { return s.Version == "v1.0.0" && s.OTA != nil && s.OTA.Slot == "a" }))
	size := fileSize(t, k.good)
	first, second := holdAt(size/3), holdAt(0)
	rel := k.srv.add(t, "/killed/loaxad", k.good, k.good, first, second)
	p.send("u1", "ota", string(k.sign(t, k.manifest(t, "v1.1.0", rel, func(m *ota.Manifest) { m.Trial = 90 * time.Second }))))
	if ack := p.awaitAck("u1"); !ack.OK {
		t.Fatalf("ota ack: %s", ack.raw)
	}

	// 1. A power cut with a third of the release sent, and at least 3 MiB
	// of it persisted (an ota.progress event follows the persisted offset).
	waitClosed(t, first.reached, "the first third of the download")
	var durable int64
	p.await("3 MiB downloaded", isEvent("ota.progress", func(d map[string]any) bool {
		b, _ := d["bytes"].(float64)
		durable = int64(b)
		return durable >= 3<<20
	}))
	p.kill()
	p.start()
	p.await("v1.0.0 back after the power cut", isStatus(func(s wire.Status) bool { return s.Online && s.Version == "v1.0.0" && s.Session == 2 }))
	waitClosed(t, second.reached, "the download resumed")
	if reqs := k.srv.requests("/killed/loaxad"); len(reqs) != 2 || reqs[1].start < durable || reqs[1].start > reqs[0].sent {
		t.Errorf("after the power cut the download asked %+v; want it resumed from a checkpoint in [%d, %d]", reqs, durable, size/3)
	}

	// 2. The agent alone killed while the release waits for a gap.
	p.send("e1", "play", `{"source":"tone:440","priority":"emergency","item":"alerte"}`)
	p.await("the emergency on air", isState(func(s wire.State) bool { return s.Playing != nil && s.Playing.Item == "alerte" }))
	close(second.release)
	p.await("installed, waiting for the emergency", isState(func(s wire.State) bool {
		return s.OTA != nil && s.OTA.State == ota.StateInstalled && s.OTA.WaitingFor == "emergency"
	}))
	// With the broker away, the new version cannot report healthy: its
	// trial waits for the next kill.
	b.Stop()
	agent := p.agentPID()
	syscall.Kill(agent, syscall.SIGKILL)
	l := ota.NewLayout(p.dir)
	waitFor(t, "the new version on trial", otaWait, func() bool {
		boot, err := supervisor.FileStore{Path: l.BootDoc()}.Load()
		return err == nil && boot.Trial != nil && boot.Trial.Version == "v1.1.0" && boot.Trial.Starts == 1 && p.agentPID() != 0
	})

	// 3. A power cut during the trial; the broker comes back (and the
	// test's watcher with it).
	p.kill()
	b.Restart()
	p.state, p.status = nil, nil
	p.start()
	p.await("ota.committed", isEvent("ota.committed", func(d map[string]any) bool { return d["version"] == "v1.1.0" }))
	p.await("v1.1.0 committed", isState(func(s wire.State) bool {
		return s.Version == "v1.1.0" && s.OTA != nil && s.OTA.Slot == "b" && !s.OTA.Trial && s.OTA.State == ota.StateCommitted
	}))
	p.await("online as v1.1.0", isStatus(func(s wire.Status) bool { return s.Online && s.Version == "v1.1.0" }))
	if _, err := l.CheckSlot("b", []ota.PublicKey{k.key.Public()}); err != nil {
		t.Errorf("the committed slot: %v", err)
	}
	t.Logf("3 kill points: power cut mid-download, agent killed while installed, power cut on trial")
}

// waitClosed waits for c, failing after otaWait.
func waitClosed(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(otaWait):
		t.Fatalf("never saw %s within %v", what, otaWait)
	}
}

// buildBroken builds brokenloaxad v1.1.0 in each mode, into
// k.bins/brokenloaxad-MODE, in the background; the channel gives the
// first error (or nil) once they are built.
func (k *otaKit) buildBroken(modes ...string) <-chan error {
	done := make(chan error, 1)
	go func() {
		var errs []error
		for _, mode := range modes {
			out := filepath.Join(k.bins, "brokenloaxad-"+mode)
			cmd := exec.Command("go", "build", "-o", out, "-ldflags", "-X main.version=v1.1.0 -X main.mode="+mode, "./testdata/brokenloaxad")
			if b, err := cmd.CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("go build brokenloaxad (%s): %v\n%s", mode, err, b))
			}
		}
		done <- errors.Join(errs...)
	}()
	return done
}

// manifest describes a release served at rel for this pole's arch,
// valid from an hour ago for a day; edit changes it before signing.
func (k *otaKit) manifest(t *testing.T, version string, rel *servedFile, edit func(*ota.Manifest)) *ota.Manifest {
	t.Helper()
	v, err := ota.ParseVersion(version)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	m := &ota.Manifest{Format: ota.ManifestFormat, Version: v, Arch: ota.Arch(), Size: rel.size, SHA256: rel.sha,
		URLs: []string{k.srv.URL() + rel.path}, Issued: now.Add(-time.Hour), Expires: now.Add(24 * time.Hour)}
	if edit != nil {
		edit(m)
	}
	return m
}

func (k *otaKit) sign(t *testing.T, m *ota.Manifest) []byte { return signWith(k.key, m) }

func signWith(key *ota.PrivateKey, m *ota.Manifest) []byte {
	s := ota.Signed{Manifest: *m, Signatures: []ota.Signature{key.Sign(m)}}
	return s.Marshal()
}

// otaPole is one pole: a data directory, its configuration, and the
// supervisor process systemd would run.
type otaPole struct {
	t       *testing.T
	id      string
	dir     string
	args    []string
	bin     string
	topics  wire.Topics
	watch   <-chan mqtttest.Message
	op      mqtt.Client
	logs    *testenv.Buffer
	sup     *exec.Cmd
	exited  chan struct{}
	seen    []string // the last messages, for failures
	offline bool     // an offline status was seen
	// state and status are the last retained documents seen: a wait for
	// a state may be satisfied by one that came before it began. told are
	// the events and acks seen, for the same reason.
	state, status *mqtttest.Message
	told          []mqtttest.Message
}

// pole starts a pole installed with loaxad v1.0.0 on a blank data
// directory, trusting the kit's key.
func (k *otaKit) pole(t *testing.T, id string) *otaPole { t.Helper(); return k.poleOn(t, k.b, id) }

// poleOn is pole with another broker.
func (k *otaKit) poleOn(t *testing.T, b *mqtttest.Broker, id string) *otaPole {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "loaxa.toml")
	conf := fmt.Sprintf("id = %q\n[mqtt]\nbroker = %q\n[ota]\nkeys = [%q]\n", id, b.URL(), k.key.Public().String())
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &otaPole{t: t, id: id, dir: dir, bin: k.old, logs: &testenv.Buffer{},
		args:   []string{"supervise", "--sim", "--config", cfg, "--data-dir", dir},
		topics: wire.Topics{Root: wire.DefaultRoot, ID: id},
		watch:  watchPole(t, b, id),
		op:     mqtttest.Client(t, b, "operator-"+id),
	}
	p.start()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("%s: supervisor and agent logs:\n%s", id, p.logs.String())
			t.Logf("broker log:\n%s", b.Log())
		}
	})
	return p
}

func (p *otaPole) start() {
	p.t.Helper()
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.sup, p.exited = cmd, make(chan struct{})
	go func(done chan struct{}) {
		cmd.Wait()
		close(done)
	}(p.exited)
}

// stop asks the supervisor to stop, as systemd does, and kills it if it
// does not within its stop timeout.
func (p *otaPole) stop() {
	if p.sup == nil {
		return
	}
	p.sup.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		p.sup.Process.Kill()
		<-p.exited
	}
	p.sup = nil
}

// watchPole subscribes to everything a pole publishes, on a persistent
// session that reconnects by itself: a watcher that a loaded machine or
// a restarted broker disconnects for a moment gets what it missed,
// instead of failing the test for the wrong reason.
func watchPole(t *testing.T, b *mqtttest.Broker, id string) <-chan mqtttest.Message {
	t.Helper()
	ch := make(chan mqtttest.Message, 4096)
	var mu sync.Mutex // guards closed: no sends once the test is over
	closed := false
	handler := func(_ mqtt.Client, m mqtt.Message) {
		mu.Lock()
		defer mu.Unlock()
		if closed {
			return
		}
		select {
		case ch <- mqtttest.Message{Topic: m.Topic(), Payload: append([]byte(nil), m.Payload()...), Retained: m.Retained(), QoS: m.Qos()}:
		default:
			t.Errorf("watcher of %s: more than %d unread messages", id, cap(ch))
		}
	}
	topic := "loaxa/v1/dev/" + id + "/#"
	var rnd [4]byte
	rand.Read(rnd[:])
	opts := mqtttest.ClientOptions(b, "watch-"+id+"-"+hex.EncodeToString(rnd[:])).
		SetCleanSession(false).SetAutoReconnect(true).SetMaxReconnectInterval(time.Second).
		SetOrderMatters(true). // in the order the pole published them
		SetKeepAlive(time.Minute).SetPingTimeout(time.Minute).
		SetOnConnectHandler(func(c mqtt.Client) { c.Subscribe(topic, 1, handler) })
	c := mqtt.NewClient(opts)
	mqtttest.Wait(t, c.Connect(), "connect the watcher of "+id)
	mqtttest.Wait(t, c.Subscribe(topic, 1, handler), "subscribe to "+topic)
	t.Cleanup(func() {
		mu.Lock()
		closed = true
		mu.Unlock()
		c.Disconnect(100)
	})
	return ch
}

// kill cuts the power: SIGKILL to the supervisor, whose agent the
// kernel kills with it (PR_SET_PDEATHSIG).
func (p *otaPole) kill() {
	p.sup.Process.Kill()
	<-p.exited
	p.sup = nil
}

// agentPID is the supervisor's child, 0 when none runs.
func (p *otaPole) agentPID() int {
	if p.sup == nil {
		return 0
	}
	want := p.sup.Process.Pid
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, not ')'.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) > 1 && f[0] != "Z" && f[1] == strconv.Itoa(want) {
			return pid
		}
	}
	return 0
}

// send publishes a command.
func (p *otaPole) send(id, cmd, args string) {
	p.t.Helper()
	payload := fmt.Sprintf(`{"id":%q,"cmd":%q,"args":%s}`, id, cmd, args)
	mqtttest.Publish(p.t, p.op, p.topics.Cmd(), 1, false, []byte(payload))
}

// await returns the first message that satisfies ok, failing the test
// after otaWait. The last state and status seen count: they are what the
// pole says now.
func (p *otaPole) await(what string, ok func(*otaPole, mqtttest.Message) bool) mqtttest.Message {
	p.t.Helper()
	for _, m := range []*mqtttest.Message{p.state, p.status} {
		if m != nil && ok(p, *m) {
			return *m
		}
	}
	for _, m := range p.told {
		if ok(p, m) {
			return m
		}
	}
	deadline := time.NewTimer(otaWait)
	defer deadline.Stop()
	for {
		select {
		case m := <-p.watch:
			p.seen = append(p.seen, shorten(m.String(), 400))
			if len(p.seen) > 40 {
				p.seen = p.seen[1:]
			}
			switch m.Topic {
			case p.topics.Status():
				p.status = &m
				if strings.Contains(string(m.Payload), `"online":false`) {
					p.offline = true
				}
			case p.topics.State():
				p.state = &m
			case p.topics.Event(), p.topics.Ack():
				p.told = append(p.told, m)
			}
			if ok(p, m) {
				return m
			}
		case <-deadline.C:
			p.t.Fatalf("%s: never saw %s within %v; the last messages:\n%s", p.id, what, otaWait, strings.Join(p.seen, "\n"))
		}
	}
}

type otaAck struct {
	ID     string          `json:"id"`
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result"`
	Error  *wire.Error     `json:"error"`
	raw    string
}

func (p *otaPole) awaitAck(id string) otaAck {
	p.t.Helper()
	m := p.await("the ack of "+id, func(p *otaPole, m mqtttest.Message) bool {
		return m.Topic == p.topics.Ack() && strings.Contains(string(m.Payload), fmt.Sprintf(`"id":%q`, id))
	})
	a := otaAck{raw: string(m.Payload)}
	if err := json.Unmarshal(m.Payload, &a); err != nil {
		p.t.Fatalf("ack %s: %v", m.Payload, err)
	}
	return a
}

// expectRefusal checks an ack refusing an ota command with its codes.
func (p *otaPole) expectRefusal(id, ackCode, code string) {
	p.t.Helper()
	a := p.awaitAck(id)
	var res struct {
		Reason string `json:"reason"`
	}
	json.Unmarshal(a.Result, &res)
	if a.OK || a.Error == nil || string(a.Error.Code) != ackCode || !strings.HasPrefix(a.Error.Message, code+": ") || res.Reason != code {
		p.t.Errorf("%s: got %s, want error %s with reason %s", id, a.raw, ackCode, code)
	}
}

func isState(ok func(wire.State) bool) func(*otaPole, mqtttest.Message) bool {
	return func(p *otaPole, m mqtttest.Message) bool {
		var s wire.State
		return m.Topic == p.topics.State() && json.Unmarshal(m.Payload, &s) == nil && ok(s)
	}
}

func isStatus(ok func(wire.Status) bool) func(*otaPole, mqtttest.Message) bool {
	return func(p *otaPole, m mqtttest.Message) bool {
		var s wire.Status
		return m.Topic == p.topics.Status() && json.Unmarshal(m.Payload, &s) == nil && ok(s)
	}
}

func isEvent(typ string, ok func(map[string]any) bool) func(*otaPole, mqtttest.Message) bool {
	return func(p *otaPole, m mqtttest.Message) bool {
		var e wire.Event
		return m.Topic == p.topics.Event() && json.Unmarshal(m.Payload, &e) == nil && e.Type == typ && ok(e.Data)
	}
}

// snapshot fingerprints DATA_DIR/ota: every file's name and content.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var out []string
	root := filepath.Join(dir, "ota")
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		rel, _ := filepath.Rel(root, path)
		out = append(out, rel+"="+hex.EncodeToString(sum[:6]))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// releaseServer serves release binaries with Range requests, cuts the
// first responses of a file after chosen byte counts, and records what
// each request asked and got.
type releaseServer struct {
	srv   *httptest.Server
	mu    sync.Mutex // guards files and log, and the requests' sent
	files map[string]*servedFile
	log   map[string][]*servedRequest
}

// servedFile is one URL path: the file the manifest describes (size,
// sha), the file actually served, and what to do to the next requests.
type servedFile struct {
	path    string
	size    int64
	sha     string
	content string
	plans   []*reqPlan
}

// reqPlan is what the server does to one request: cut the connection
// after cut body bytes, or hold it after hold bytes (closing reached)
// until release is closed or the client goes. -1: never.
type reqPlan struct {
	cut, hold        int64
	reached, release chan struct{}
}

func cutAt(n int64) *reqPlan { return &reqPlan{cut: n, hold: -1} }

func holdAt(n int64) *reqPlan {
	return &reqPlan{cut: -1, hold: n, reached: make(chan struct{}), release: make(chan struct{})}
}

type servedRequest struct {
	start, sent int64
}

func newReleaseServer(t *testing.T) *releaseServer {
	rs := &releaseServer{files: map[string]*servedFile{}, log: map[string][]*servedRequest{}}
	rs.srv = httptest.NewServer(http.HandlerFunc(rs.serve))
	t.Cleanup(rs.srv.Close)
	return rs
}

func (rs *releaseServer) URL() string { return rs.srv.URL }

// add serves content at path as the release described by signed; the
// first requests follow plans, one each.
func (rs *releaseServer) add(t *testing.T, path, signed, content string, plans ...*reqPlan) *servedFile {
	t.Helper()
	size, sha, err := ota.HashFile(signed)
	if err != nil {
		t.Fatal(err)
	}
	f := &servedFile{path: path, size: size, sha: sha, content: content, plans: plans}
	rs.mu.Lock()
	rs.files[path] = f
	rs.mu.Unlock()
	return f
}

func (rs *releaseServer) requests(path string) []servedRequest {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var out []servedRequest
	for _, r := range rs.log[path] {
		out = append(out, *r)
	}
	return out
}

func (rs *releaseServer) serve(w http.ResponseWriter, r *http.Request) {
	rs.mu.Lock()
	f := rs.files[r.URL.Path]
	plan := &reqPlan{cut: -1, hold: -1}
	if f != nil && len(f.plans) > 0 {
		plan, f.plans = f.plans[0], f.plans[1:]
	}
	rs.mu.Unlock()
	if f == nil {
		http.NotFound(w, r)
		return
	}
	req := &servedRequest{}
	fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-", &req.start)
	rs.mu.Lock()
	rs.log[f.path] = append(rs.log[f.path], req)
	rs.mu.Unlock()
	cw := &countingWriter{ResponseWriter: w, plan: plan, ctx: r.Context()}
	defer func() {
		rs.mu.Lock()
		req.sent = cw.sent
		rs.mu.Unlock()
	}()
	file, err := os.Open(f.content)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer file.Close()
	if plan.hold == 0 {
		cw.wait() // before the headers
	}
	http.ServeContent(cw, r, "loaxad", time.Time{}, file)
}

// countingWriter counts the body bytes sent and carries out a plan: a cut
// or a hold once so many bytes were sent (and flushed: the client has
// them).
type countingWriter struct {
	http.ResponseWriter
	plan *reqPlan
	ctx  context.Context
	sent int64
	held bool
}

func (w *countingWriter) Write(p []byte) (int, error) {
	stop := w.plan.cut
	if w.plan.hold > w.sent {
		stop = w.plan.hold
	}
	if stop >= 0 && w.sent+int64(len(p)) > stop {
		p = p[:stop-w.sent]
	}
	n, err := w.ResponseWriter.Write(p)
	w.sent += int64(n)
	switch w.sent {
	case w.plan.cut:
		w.ResponseWriter.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	case w.plan.hold:
		if !w.held {
			w.ResponseWriter.(http.Flusher).Flush()
			w.wait()
		}
	}
	return n, err
}

// wait holds the response until the test releases it or the client goes.
func (w *countingWriter) wait() {
	w.held = true
	close(w.plan.reached)
	select {
	case <-w.plan.release:
	case <-w.ctx.Done():
		panic(http.ErrAbortHandler)
	}
}
