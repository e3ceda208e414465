package supervisor

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/loaxa/loaxa/ota"
)

// Real binaries: testdata/fakeagent, built by the test with its version
// and behaviour, runs the real supervisor and the real updater as two
// processes, as loaxad supervise and loaxad will.

var (
	buildMu  sync.Mutex // guards buildDir and built
	buildDir string
	built    = map[string]string{}
)

// fakeAgent builds testdata/fakeagent with a version and a mode.
func fakeAgent(t *testing.T, version, mode string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	key := version + "-" + mode
	if p, ok := built[key]; ok {
		return p
	}
	if buildDir == "" {
		d, err := os.MkdirTemp("", "loaxa-fakeagent-")
		if err != nil {
			t.Fatal(err)
		}
		buildDir = d
	}
	out := filepath.Join(buildDir, "fakeagent-"+key)
	cmd := exec.Command("go", "build", "-o", out, "-ldflags", "-X main.version="+version+" -X main.mode="+mode, "./testdata/fakeagent")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build fakeagent: %v\n%s", err, b)
	}
	built[key] = out
	return out
}

func removeBuilds() {
	buildMu.Lock()
	defer buildMu.Unlock()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
}

// release is a signed manifest for a binary, served over HTTP.
type release struct {
	key      *ota.PrivateKey
	manifest string // path of the signed manifest
	version  string
	size     int64
	srv      *httptest.Server
	mu       sync.Mutex // guards ranges
	ranges   []string   // the Range header of every request
}

func (r *release) rangeHeaders() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ranges...)
}

func newRelease(t *testing.T, dir, bin, version string) *release {
	t.Helper()
	key, err := ota.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	size, sum, err := ota.HashFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	rel := &release{key: key, version: version, size: size}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rel.mu.Lock()
		rel.ranges = append(rel.ranges, r.Header.Get("Range"))
		rel.mu.Unlock()
		f, err := os.Open(bin)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer f.Close()
		http.ServeContent(w, r, "loaxad", time.Time{}, f) // Range requests included
	}))
	t.Cleanup(srv.Close)
	v, _ := ota.ParseVersion(version)
	m := ota.Manifest{Format: ota.ManifestFormat, Version: v, Arch: ota.Arch(), Size: size, SHA256: sum,
		URLs: []string{srv.URL + "/loaxad"}, Issued: time.Now().Add(-time.Hour), Expires: time.Now().Add(24 * time.Hour)}
	s := ota.Signed{Manifest: m, Signatures: []ota.Signature{key.Sign(&m)}}
	path := filepath.Join(dir, "manifest.json")
	if err := os.WriteFile(path, s.Marshal(), 0o644); err != nil {
		t.Fatal(err)
	}
	rel.manifest, rel.srv = path, srv
	return rel
}

// device is one pole: a data directory and the supervisor process that
// systemd would run (and restart when it dies).
type device struct {
	t       *testing.T
	dir     string
	factory string
	args    []string
	env     []string
	cmd     *exec.Cmd
	out     *bytes.Buffer
	exited  chan error
	runs    int
}

func newDevice(t *testing.T, factory string, r *release, extra ...string) *device {
	dir := t.TempDir()
	d := &device{t: t, dir: dir, factory: factory, out: &bytes.Buffer{}}
	d.args = append([]string{"--data-dir", dir, "--manifest", r.manifest, "--keys", r.key.Public().String()}, extra...)
	t.Cleanup(func() {
		if d.cmd != nil {
			d.cmd.Process.Kill()
			<-d.exited
		}
		if t.Failed() {
			t.Logf("processes' output:\n%s", lastLines(d.out.String(), 60))
			b, _ := os.ReadFile(filepath.Join(dir, "agent.log"))
			t.Logf("agent.log:\n%s", b)
		}
	})
	return d
}

// start starts the supervisor, as systemd does.
func (d *device) start(env ...string) {
	d.t.Helper()
	cmd := exec.Command(d.factory, append([]string{"supervise"}, d.args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = d.out, d.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	d.cmd, d.exited, d.runs = cmd, make(chan error, 1), d.runs+1
	go func() { d.exited <- cmd.Wait() }()
}

// stop stops it as systemd stop does.
func (d *device) stop() {
	d.t.Helper()
	if d.cmd == nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.exited:
		if err != nil {
			d.t.Errorf("the supervisor exited with %v after SIGTERM", err)
		}
	case <-time.After(30 * time.Second):
		d.t.Fatal("the supervisor did not stop on SIGTERM")
	}
	d.cmd = nil
}

// record is one line of agent.log.
type record struct {
	What    string         `json:"what"`
	Version string         `json:"version"`
	Slot    string         `json:"slot"`
	Trial   bool           `json:"trial"`
	Type    string         `json:"type"`
	Data    map[string]any `json:"data"`
	Code    string         `json:"code"`
	TS      int64          `json:"ts"`
}

func (d *device) records() []record {
	f, err := os.Open(filepath.Join(d.dir, "agent.log"))
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []record
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r record
		if json.Unmarshal(sc.Bytes(), &r) == nil {
			out = append(out, r)
		}
	}
	return out
}

func (d *device) event(typ string) *record {
	for _, r := range d.records() {
		if r.What == "event" && r.Type == typ {
			return &r
		}
	}
	return nil
}

func (d *device) lastStart() *record {
	rs := d.records()
	for i := len(rs) - 1; i >= 0; i-- {
		if rs[i].What == "start" {
			return &rs[i]
		}
	}
	return nil
}

func (d *device) boot() Boot {
	b, _ := FileStore{Path: ota.NewLayout(d.dir).BootDoc()}.Load()
	return b
}

func (d *device) update() ota.Doc {
	u, _ := ota.FileStore{Path: ota.NewLayout(d.dir).UpdateDoc()}.Load()
	return u
}

// settled reports whether the update is over and the committed slot runs.
func (d *device) settled() bool {
	u, b := d.update(), d.boot()
	if u.Update == nil || !u.Update.State.Terminal() || b.Trial != nil {
		return false
	}
	s := d.lastStart()
	si, err := ota.NewLayout(d.dir).ReadSlotInfo(b.Active)
	return s != nil && err == nil && s.Version == si.Version && s.Slot == b.Active
}

// recovered reports whether an agent started after the kill. The marker
// says when, by the clock the records use (a file's mtime comes from a
// coarser clock and can be earlier than the kill).
func (d *device) recovered() bool {
	b, err := os.ReadFile(filepath.Join(d.dir, "killed"))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	if len(f) < 4 || !bytes.HasSuffix(b, []byte("\n")) {
		return false // being written
	}
	at, _ := strconv.ParseInt(f[len(f)-1], 10, 64)
	s := d.lastStart()
	return s != nil && s.TS > at
}

// waitSettled waits for the kill, for an agent started after it, and for
// the update to end, restarting the supervisor whenever it dies, as
// systemd (Restart=always) would.
func (d *device) waitSettled(env ...string) {
	d.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !d.recovered() || !d.settled() {
		select {
		case <-d.exited:
			d.cmd = nil
			d.start(env...)
		default:
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("the device did not settle; update %+v, boot %+v", d.update().Update, d.boot())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// runningValid checks that what runs is the factory version or a release
// signed by key, byte for byte.
func (d *device) runningValid(key *ota.PrivateKey) (string, error) {
	b := d.boot()
	l := ota.NewLayout(d.dir)
	si, err := l.CheckSlot(b.Active, []ota.PublicKey{key.Public()})
	if err != nil {
		return "", err
	}
	if s := d.lastStart(); s == nil || s.Version != si.Version {
		return "", fmt.Errorf("the last agent started was %+v, slot %s holds %s", s, b.Active, si.Version)
	}
	return si.Version, nil
}

func TestRealBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs real binaries")
	}
	factory := fakeAgent(t, "v1.0.0", "good")
	tests := []struct {
		mode    string
		version string // what runs at the end
		event   string
		reason  string
	}{
		{"good", "v1.1.0", "ota.committed", ""},
		{"reexec", "v1.1.0", "ota.committed", ""},
		{"crash", "v1.0.0", "ota.rolled_back", ota.ReasonCrashed},
		{"hang", "v1.0.0", "ota.rolled_back", ota.ReasonTrialTimeout},
		{"nohealth", "v1.0.0", "ota.rolled_back", ota.ReasonTrialTimeout},
		{"crashlater", "v1.0.0", "ota.rolled_back", ota.ReasonCrashLoop},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			bin := fakeAgent(t, "v1.1.0", tt.mode)
			r := newRelease(t, t.TempDir(), bin, "v1.1.0")
			d := newDevice(t, factory, r, "--trial", "3s")
			d.start()
			waitFor(t, tt.event, func() bool { return d.event(tt.event) != nil && d.settled() })
			d.stop()
			ev := d.event(tt.event)
			if ev.Version != tt.version {
				t.Errorf("%s reported by %s, want %s", tt.event, ev.Version, tt.version)
			}
			if tt.reason != "" && (ev.Data["reason"] != tt.reason || ev.Data["version"] != "v1.1.0" || ev.Data["running"] != "v1.0.0") {
				t.Errorf("%s %v, want reason %s", tt.event, ev.Data, tt.reason)
			}
			got, err := d.runningValid(r.key)
			if err != nil || got != tt.version {
				t.Errorf("runs %s (%v), want %s", got, err, tt.version)
			}
			if tt.mode == "nohealth" && !strings.Contains(fmt.Sprint(ev.Data["detail"]), "broker not connected") {
				t.Errorf("detail %v does not say what the agent waited for", ev.Data["detail"])
			}
		})
	}
}

// SIGKILL of the agent, or of the supervisor and the agent together (a
// power cut), at every persisted state of an update and at random bytes
// of its download: the pole always comes back running a valid signed
// version, and the update finishes.
func TestKillAtEveryPoint(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs real binaries")
	}
	factory := fakeAgent(t, "v1.0.0", "good")
	goodBin := fakeAgent(t, "v1.1.0", "good")
	crashBin := fakeAgent(t, "v1.1.0", "crash")
	size, _, _ := ota.HashFile(goodBin)
	type point struct {
		kill string
		bin  string
		want string // the version that must run at the end
	}
	var points []point
	for _, s := range []string{"verified", "downloading", "downloaded", "installed", "switching", "trial", "committed"} {
		want := "v1.1.0"
		if s == "trial" {
			want = "v1.0.0" // the new version died before reporting healthy: rolled back
		}
		points = append(points, point{"state:" + s + "@agent", goodBin, want})
		points = append(points, point{"state:" + s + "@both", goodBin, "v1.1.0"})
	}
	for _, b := range []string{"installed", "switch", "trial-start", "committed"} {
		points = append(points, point{"boot:" + b, goodBin, "v1.1.0"})
	}
	points = append(points, point{"boot:rolled_back", crashBin, "v1.0.0"}, point{"state:rolled_back@both", crashBin, "v1.0.0"})
	// At random bytes, and once before the first checkpoint (64 KiB); the
	// random kills wait for a saved checkpoint, so each run checks a resume.
	points = append(points, point{"download:1000@agent", goodBin, "v1.1.0"})
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 12))
	for i := 0; i < 6; i++ {
		who := []string{"agent", "both"}[i%2]
		points = append(points, point{fmt.Sprintf("download:%d+saved@%s", 1+rng.Int64N(size-1), who), goodBin, "v1.1.0"})
	}
	exercised, ran := 0, 0
	for _, p := range points {
		t.Run(p.kill, func(t *testing.T) {
			ran++
			r := newRelease(t, t.TempDir(), p.bin, "v1.1.0")
			d := newDevice(t, factory, r, "--trial", "10s")
			env := "LOAXA_TEST_KILL=" + p.kill
			d.start(env)
			d.waitSettled(env)
			d.stop()
			marker, err := os.ReadFile(filepath.Join(d.dir, "killed"))
			if err != nil {
				t.Fatalf("the kill point was never reached: %v", err)
			}
			exercised++
			got, err := d.runningValid(r.key)
			if err != nil {
				t.Fatalf("not running a valid signed version: %v", err)
			}
			if got != p.want {
				t.Errorf("runs %s, want %s", got, p.want)
			}
			resumed := ""
			if strings.HasPrefix(p.kill, "download:") {
				// The download after the kill went on from the checkpoint
				// saved when it was killed, or from the start without one.
				hdrs := r.rangeHeaders()
				resumed = "; requests " + strings.Join(hdrs, ",")
				var reached, saved int64
				if _, err := fmt.Sscanf(string(marker), "download %d saved %d", &reached, &saved); err != nil {
					t.Fatalf("kill marker %q: %v", marker, err)
				}
				// The owner may save one more checkpoint (below the byte
				// reached) between the marker and the kill.
				var from int64
				if len(hdrs) == 2 && hdrs[1] != "" {
					if _, err := fmt.Sscanf(hdrs[1], "bytes=%d-", &from); err != nil || from <= 0 {
						from = -1
					}
				}
				if len(hdrs) != 2 || hdrs[0] != "" || from < saved || from >= reached {
					t.Errorf("killed at byte %d with byte %d saved: requests %q, want a second one from the saved byte or later, before %d", reached, saved, hdrs, reached)
				}
				if strings.Contains(p.kill, "+saved") && saved == 0 {
					t.Errorf("killed with no checkpoint saved")
				}
			}
			t.Logf("killed at %s; supervisor started %d times; runs %s; update %s%s", strings.TrimSpace(string(marker)), d.runs, got, d.update().Update.State, resumed)
		})
	}
	t.Logf("kill points exercised: %d of %d run (%d defined)", exercised, ran, len(points))
	if exercised != ran {
		t.Errorf("only %d of %d kill points were reached", exercised, ran)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
