package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/internal/clock"
	"github.com/loaxa/loaxa/internal/mqtttest"
	"github.com/loaxa/loaxa/ota"
)

// runOffline runs loaxactl for commands that need no broker.
func runOffline(t *testing.T, h *harness, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr syncBuffer
	c := h.cli(&stdout, &stderr)
	code := c.Run(context.Background(), args)
	return code, stdout.String(), stderr.String()
}

// fakeELF writes a small file CheckELF takes for arch.
func fakeELF(t *testing.T, dir, arch string) string {
	t.Helper()
	machines := map[string]uint16{"amd64": 62, "arm64": 183, "armv7": 40}
	b := make([]byte, 4096)
	copy(b, "\x7fELF\x02\x01\x01")
	b[18], b[19] = byte(machines[arch]), byte(machines[arch]>>8)
	for i := 64; i < len(b); i++ {
		b[i] = byte(i * 7)
	}
	p := filepath.Join(dir, "loaxad-"+arch)
	if err := os.WriteFile(p, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// keygen makes a key pair in dir and returns the prefix.
func keygen(t *testing.T, h *harness, dir, name string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	if code, _, stderr := runOffline(t, h, "release", "keygen", "--out", out); code != ExitOK {
		t.Fatalf("keygen = %d: %s", code, stderr)
	}
	return out
}

func pubKey(t *testing.T, prefix string) ota.PublicKey {
	t.Helper()
	b, err := os.ReadFile(prefix + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	k, err := ota.ParsePublicKey(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestReleaseKeygen(t *testing.T) {
	h := &harness{t: t, clk: clock.NewFake(t0), env: map[string]string{}}
	dir := t.TempDir()
	out := filepath.Join(dir, "province")
	code, stdout, stderr := runOffline(t, h, "release", "keygen", "--out", out)
	if code != ExitOK {
		t.Fatalf("= %d: %s", code, stderr)
	}
	pub := pubKey(t, out)
	if !strings.Contains(stdout, "key "+pub.KeyID()) || !strings.Contains(stdout, `keys = ["`+pub.String()+`"]`) {
		t.Errorf("stdout:\n%s", stdout)
	}
	fi, err := os.Stat(out + ".key")
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("private key mode %v, %v; want 0600", fi.Mode(), err)
	}
	b, _ := os.ReadFile(out + ".key")
	if k, err := ota.ParsePrivateKey(b); err != nil || k.Public().KeyID() != pub.KeyID() {
		t.Errorf("the private key does not match: %v", err)
	}
	if code, _, stderr := runOffline(t, h, "release", "keygen", "--out", out); code != ExitFailed || !strings.Contains(stderr, "not overwriting a key") {
		t.Errorf("a second keygen = %d, %s", code, stderr)
	}
}

func TestReleaseSign(t *testing.T) {
	h := &harness{t: t, env: map[string]string{}, clk: clock.NewFake(t0)}
	dir := t.TempDir()
	k1, k2 := keygen(t, h, dir, "old"), keygen(t, h, dir, "new")
	bin := fakeELF(t, dir, "arm64")
	manifest := filepath.Join(dir, "v1.3.0.json")
	code, _, stderr := runOffline(t, h, "release", "sign", "--signing-key", k1+".key", "--signing-key", k2+".key",
		"--version", "v1.3.0", "--arch", "arm64", "--url", "https://u.example.vn/a", "--url", "http://10.0.0.5/a?x=1&y=2",
		"--min-version", "v1.1.0", "--expires", "240h", "--switch-by", "2025-11-26T00:00:00+07:00", "--trial", "3m",
		"--notes", "sửa lỗi", "--new-key", k2+".pub", "--out", manifest, bin)
	if code != ExitOK {
		t.Fatalf("= %d: %s", code, stderr)
	}
	raw, _ := os.ReadFile(manifest)
	if strings.Contains(string(raw), `\u0026`) {
		t.Errorf("the URL's & was escaped: %s", raw)
	}
	for _, keys := range [][]ota.PublicKey{{pubKey(t, k1)}, {pubKey(t, k2)}} {
		s, err := ota.Verify(raw, ota.Policy{Keys: keys, Arch: "arm64", Running: "v1.2.0", Now: t0})
		if err != nil {
			t.Fatalf("a pole refuses it: %v", err)
		}
		m := s.Manifest
		if m.Size != 4096 || m.MinVersion.String() != "v1.1.0" || m.Trial != 3*time.Minute || len(m.URLs) != 2 ||
			!m.Expires.Equal(t0.Add(240*time.Hour)) || !m.SwitchBy.Equal(time.Date(2025, 11, 25, 17, 0, 0, 0, time.UTC)) ||
			len(m.Keys) != 1 || m.Keys[0].KeyID() != pubKey(t, k2).KeyID() {
			t.Errorf("manifest %+v", m)
		}
	}
	if !strings.Contains(stderr, "signed v1.3.0 for arm64: 4096 bytes") {
		t.Errorf("stderr %q", stderr)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no key", []string{"--version", "v1", "--arch", "arm64", "--url", "http://x/a", bin}, "needs --signing-key"},
		{"bad version", []string{"--signing-key", k1 + ".key", "--version", "1.3", "--arch", "arm64", "--url", "http://x/a", bin}, `--version "1.3"`},
		{"no arch", []string{"--signing-key", k1 + ".key", "--version", "v1.3.0", "--url", "http://x/a", bin}, "needs --arch"},
		{"no url", []string{"--signing-key", k1 + ".key", "--version", "v1.3.0", "--arch", "arm64", bin}, "at least one --url"},
		{"wrong arch", []string{"--signing-key", k1 + ".key", "--version", "v1.3.0", "--arch", "amd64", "--url", "http://x/a", bin}, "check --arch"},
		{"ftp url", []string{"--signing-key", k1 + ".key", "--version", "v1.3.0", "--arch", "arm64", "--url", "ftp://x/a", bin}, "expected an http:// or https:// URL"},
		{"public key to sign", []string{"--signing-key", k1 + ".pub", "--version", "v1.3.0", "--arch", "arm64", "--url", "http://x/a", bin}, "release keygen"},
		{"short trial", []string{"--signing-key", k1 + ".key", "--version", "v1.3.0", "--arch", "arm64", "--url", "http://x/a", "--trial", "2s", bin}, "trial_s 2"},
		{"past expiry", []string{"--signing-key", k1 + ".key", "--version", "v1.3.0", "--arch", "arm64", "--url", "http://x/a", "--expires", "2020-01-01T00:00:00Z", bin}, "must be after issued"},
		{"no binary", []string{"--signing-key", k1 + ".key", "--version", "v1.3.0", "--arch", "arm64", "--url", "http://x/a"}, "takes the BINARY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runOffline(t, h, append([]string{"release", "sign"}, tt.args...)...)
			if code != ExitUsage || !strings.Contains(stderr, tt.want) || stdout != "" {
				t.Errorf("= %d, stderr %q; want usage error mentioning %q", code, stderr, tt.want)
			}
		})
	}
}

// otaPole is a fake pole for releases: it keeps a retained state and
// status, answers ota commands after checking the manifest with key as a
// real pole would, then reports progress and the outcome.
type otaPole struct {
	id  string
	mu  sync.Mutex // guards got
	got []string   // command ids received
}

type poleOutcome int

const (
	commits poleOutcome = iota
	rollsBack
	refuses
)

func (h *harness) otaPole(id string, groups []string, version string, key ota.PublicKey, outcome poleOutcome) *otaPole {
	h.t.Helper()
	p := &otaPole{id: id}
	cl := mqtttest.Client(h.t, h.b, id)
	t := wire.Topics{Root: root, ID: id}
	state := func(v string, st *ota.Status) []byte {
		b, _ := json.Marshal(map[string]any{"ts": 1, "id": id, "version": v, "groups": groups, "ota": st})
		return b
	}
	event := func(typ string, data map[string]any) {
		b, _ := json.Marshal(wire.Event{TS: 2, Type: typ, Data: data})
		cl.Publish(t.Event(), 1, false, b)
	}
	mqtttest.Publish(h.t, cl, t.Status(), 1, true, []byte(`{"online":true,"session":1,"version":"`+version+`","since":1,"ts":1}`))
	mqtttest.Publish(h.t, cl, t.State(), 1, true, state(version, &ota.Status{Version: version, Arch: "arm64", Slot: "a", State: ota.StateIdle}))
	handler := func(_ mqtt.Client, m mqtt.Message) {
		c, werr := wire.Decode(m.Payload(), h.clk.Now())
		if werr != nil || c.Cmd != "ota" {
			return
		}
		p.mu.Lock()
		p.got = append(p.got, c.ID)
		p.mu.Unlock()
		a := wire.Ack{ID: c.ID, Cmd: c.Cmd, OK: true, TS: 3}
		s, err := ota.Verify(c.Args, ota.Policy{Keys: []ota.PublicKey{key}, Arch: "arm64", Running: version, Now: h.clk.Now()})
		if outcome == refuses {
			err = ota.ErrDiskFull
		}
		if err != nil {
			a.OK, a.Error = false, &wire.Error{Code: wire.Code(ota.AckCode(err)), Message: ota.Code(err) + ": " + err.Error()}
		} else {
			a.Result = map[string]any{"version": s.Manifest.Version.String(), "state": "verified"}
		}
		b, _ := json.Marshal(a)
		cl.Publish(t.Ack(), 1, false, b)
		if err != nil {
			return
		}
		target := s.Manifest.Version.String()
		event("ota.progress", map[string]any{"version": target, "percent": 50, "bytes": 1, "size": 2})
		event("ota.installed", map[string]any{"version": target, "slot": "b"})
		if outcome == rollsBack {
			event("ota.rolled_back", map[string]any{"version": target, "running": version, "reason": "crashed", "detail": "exit status 2"})
			return
		}
		event("ota.committed", map[string]any{"version": target, "slot": "b"})
		cl.Publish(t.State(), 1, true, state(target, &ota.Status{Version: target, Arch: "arm64", Slot: "b", State: ota.StateCommitted, Target: target,
			Other: &ota.SlotState{Slot: "a", Version: version, Valid: true}}))
	}
	mqtttest.Wait(h.t, cl.Subscribe(t.Cmd(), 1, handler), "subscribe "+id)
	h.t.Cleanup(func() {
		// Retained documents outlive the test's poles otherwise.
		for _, topic := range []string{t.State(), t.Status()} {
			cl.Publish(topic, 1, true, nil).Wait()
		}
	})
	return p
}

func (p *otaPole) commands() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.got...)
}

// signed writes a manifest for v1.3.0 signed with a new key.
func signed(t *testing.T, h *harness) (string, ota.PublicKey) {
	t.Helper()
	dir := t.TempDir()
	k := keygen(t, h, dir, "k")
	m := filepath.Join(dir, "m.json")
	if code, _, stderr := runOffline(t, h, "release", "sign", "--signing-key", k+".key", "--version", "v1.3.0", "--arch", "arm64",
		"--url", "https://u.example.vn/loaxad", "--out", m, fakeELF(t, dir, "arm64")); code != ExitOK {
		t.Fatal(stderr)
	}
	return m, pubKey(t, k)
}

func TestReleasePublishToADevice(t *testing.T) {
	h := newHarness(t)
	manifest, key := signed(t, h)
	h.otaPole("pole-a", []string{"north"}, "v1.2.0", key, commits)
	code, stdout, stderr := h.run("release", "publish", manifest, "pole-a")
	if code != ExitOK || !strings.Contains(stdout, "pole-a: ota ok") || !strings.Contains(stdout, `"version": "v1.3.0"`) {
		t.Errorf("= %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	// A pole that trusts another key refuses it, and says why.
	h.otaPole("pole-b", []string{"north"}, "v1.2.0", ota.PublicKey(make([]byte, 32)), commits)
	code, stdout, _ = h.run("release", "publish", manifest, "pole-b")
	if code != ExitFailed || !strings.Contains(stdout, "bad_args: unknown_key") {
		t.Errorf("= %d\nstdout:\n%s", code, stdout)
	}
}

func TestReleasePublishStaged(t *testing.T) {
	h := newHarness(t)
	manifest, key := signed(t, h)
	var poles []*otaPole
	for _, id := range []string{"pole-1", "pole-2", "pole-3", "pole-4", "pole-5"} {
		poles = append(poles, h.otaPole(id, []string{"north"}, "v1.2.0", key, commits))
	}
	outsider := h.otaPole("pole-x", []string{"south"}, "v1.2.0", key, commits)
	code, stdout, stderr := h.run("release", "publish", manifest, "--group", "north", "--percent", "20,60", "--discover", "300ms")
	if code != ExitOK {
		t.Fatalf("= %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"v1.3.0 to group north: 5 poles, stages [20 60 100]%", "stage 1 (20%): 1 pole(s)", "stage 2 (60%): 2 pole(s)", "stage 3 (100%): 2 pole(s)", "stage 1: 0 of 1 failed"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	// Stages 1 and 2 waited for the commits; the last one for the acks.
	rows := regexp.MustCompile(`(?m)^pole-\d  (\d)      (.*)$`).FindAllStringSubmatch(stdout, -1)
	if len(rows) != 5 {
		t.Fatalf("table rows %q\nstdout:\n%s", rows, stdout)
	}
	// The last stage's poles go on after their ack, so their row shows
	// whichever of their events the tool read before it printed.
	lastStage := regexp.MustCompile(`^(accepted|downloading \d+%|installed|committed v1\.3\.0|runs v1\.3\.0)$`)
	for _, r := range rows {
		if (r[1] != "3" && r[2] != "committed v1.3.0") || (r[1] == "3" && !lastStage.MatchString(r[2])) {
			t.Errorf("row %q", r[0])
		}
	}
	for _, p := range poles {
		if n := len(p.commands()); n != 1 {
			t.Errorf("%s got %d commands", p.id, n)
		}
	}
	if n := len(outsider.commands()); n != 0 {
		t.Errorf("a pole outside the group got %d commands", n)
	}
}

func TestReleasePublishStagedStopsOnFailures(t *testing.T) {
	h := newHarness(t)
	manifest, key := signed(t, h)
	var poles []*otaPole
	for _, id := range []string{"pole-1", "pole-2", "pole-3", "pole-4"} {
		poles = append(poles, h.otaPole(id, []string{"north"}, "v1.2.0", key, rollsBack))
	}
	code, stdout, stderr := h.run("release", "publish", manifest, "--group", "north", "--percent", "50", "--max-failures", "1", "--discover", "300ms")
	if code != ExitFailed {
		t.Fatalf("= %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "stage 1: 2 of 2 failed (at most 1 allowed)") || !strings.Contains(stdout, "stopped: 2 pole(s) not sent the release") ||
		strings.Count(stdout, "rolled back: crashed: exit status 2") != 4 || strings.Count(stdout, "not sent") != 3 {
		t.Errorf("stdout:\n%s", stdout)
	}
	sent := 0
	for _, p := range poles {
		sent += len(p.commands())
	}
	if sent != 2 {
		t.Errorf("%d poles got the release; the rollout should have stopped after 2", sent)
	}
}

// A pole that never answers counts as failed once --wait passes.
func TestReleasePublishStagedSilentPole(t *testing.T) {
	h := newHarness(t)
	manifest, _ := signed(t, h)
	cl := mqtttest.Client(t, h.b, "pole-z")
	topics := wire.Topics{Root: root, ID: "pole-z"}
	mqtttest.Publish(t, cl, topics.State(), 1, true, []byte(`{"id":"pole-z","version":"v1.2.0","groups":["north"]}`))
	t.Cleanup(func() { cl.Publish(topics.State(), 1, true, nil).Wait() })
	r := h.start("release", "publish", manifest, "--group", "north", "--percent", "50", "--wait", "10m", "--discover", "300ms")
	h.armed()
	h.clk.Advance(10 * time.Minute)
	code, stdout, _ := r.wait()
	if code != ExitFailed || !strings.Contains(stdout, "pole-z  1      no answer within 10m0s") {
		t.Errorf("= %d\nstdout:\n%s", code, stdout)
	}
}

func TestReleaseStatus(t *testing.T) {
	h := newHarness(t)
	cl := mqtttest.Client(t, h.b, "status-poles")
	put := func(id, status, state string) {
		topics := wire.Topics{Root: root, ID: id}
		mqtttest.Publish(t, cl, topics.Status(), 1, true, []byte(status))
		mqtttest.Publish(t, cl, topics.State(), 1, true, []byte(state))
		t.Cleanup(func() {
			cl.Publish(topics.State(), 1, true, nil).Wait()
			cl.Publish(topics.Status(), 1, true, nil).Wait()
		})
	}
	put("pole-a", `{"online":true,"version":"v1.3.0"}`, `{"id":"pole-a","version":"v1.3.0","groups":["north"],"ota":{"version":"v1.3.0","arch":"arm64","slot":"b","other":{"slot":"a","version":"v1.2.0","valid":true},"state":"committed","target":"v1.3.0"}}`)
	put("pole-b", `{"online":true,"version":"v1.2.0"}`, `{"id":"pole-b","version":"v1.2.0","groups":["north"],"ota":{"version":"v1.2.0","arch":"arm64","slot":"a","other":{"slot":"b","version":"v1.3.0","valid":false},"state":"rolled_back","target":"v1.3.0","error":{"code":"crashed","message":"rolled back: crashed: exit status 2","at":1}}}`)
	put("pole-c", `{"online":false,"version":"v1.2.0"}`, `{"id":"pole-c","version":"v1.2.0","groups":["north"],"ota":{"version":"v1.2.0","arch":"arm64","slot":"a","state":"downloading","target":"v1.3.0","progress":{"bytes":450,"size":1000}}}`)
	put("pole-d", `{"online":true,"version":"v1.2.0"}`, `{"id":"pole-d","version":"v1.2.0","groups":["north"],"ota":{"version":"v1.2.0","arch":"arm64","slot":"a","state":"installed","target":"v1.3.0","waiting_for":"emergency"}}`)
	put("pole-x", `{"online":true,"version":"v1.2.0"}`, `{"id":"pole-x","version":"v1.2.0","groups":["south"]}`)
	code, stdout, stderr := h.run("release", "status", "--group", "north", "--discover", "300ms")
	want := "" +
		"DEVICE  ONLINE  VERSION  SLOT  OTHER                OTA          TARGET  PROGRESS          ERROR\n" +
		"pole-a  yes     v1.3.0   b     a v1.2.0             committed    v1.3.0\n" +
		"pole-b  yes     v1.2.0   a     b v1.3.0 (unusable)  rolled_back  v1.3.0                    crashed: rolled back: crashed: exit status 2\n" +
		"pole-c  no      v1.2.0   a     -                    downloading  v1.3.0  45%\n" +
		"pole-d  yes     v1.2.0   a     -                    installed    v1.3.0  waits: emergency\n"
	if code != ExitOK || stdout != want {
		t.Errorf("= %d\nstdout:\n%s\nwant:\n%s\nstderr: %s", code, stdout, want, stderr)
	}
}
