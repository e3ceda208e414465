//go:build linux

package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loaxa/loaxa/agent/config"
	"github.com/loaxa/loaxa/agent/console"
	"github.com/loaxa/loaxa/internal/clock"
	"github.com/loaxa/loaxa/internal/testenv"
)

func TestConsoleFlag(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "loaxa.toml")
	os.WriteFile(path, []byte("id = \"pole-1\"\n[console]\nport = \"/dev/ttyAMA0\"\n"), 0o600)
	f, err := ParseFlags([]string{"--config", path, "--console", "/dev/ttyGS0"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := LoadConfig(f)
	if err != nil || cfg.Console.Port != "/dev/ttyGS0" {
		t.Fatalf("port %q, %v", cfg.Console.Port, err)
	}
	// A simulated board with a console is blank until provisioned; without
	// one it is sim-pole, as before.
	f, _ = ParseFlags([]string{"--sim", "--data-dir", t.TempDir(), "--console", "/dev/pts/9"}, &bytes.Buffer{})
	if cfg, _, err := LoadConfig(f); err != nil || cfg.ID != "" {
		t.Fatalf("id %q, %v", cfg.ID, err)
	}
	if p := pinnedKeys(Flags{ID: "pole-1", Broker: "tcp://h:1883"}); p["id"] != "pole-1" || p["mqtt.broker"] != "tcp://h:1883" || len(p) != 2 {
		t.Errorf("pinned %v", p)
	}
}

// A broken configuration file stops the agent, not the console: with
// --console the daemon serves it on the defaults, saying what is wrong.
func TestBrokenConfigKeepsTheConsole(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "loaxa.toml")
	os.WriteFile(path, []byte("id = \"pole-1\"\npower_on = \"sometimes\"\n"), 0o600)
	f, _ := ParseFlags([]string{"--config", path, "--data-dir", dir, "--console", "/dev/ttyAMA0"}, &bytes.Buffer{})
	cfg, got, err := loadAndReset(f, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "power_on") || cfg == nil || got != path || cfg.DataDir != dir || cfg.Console.Port != "/dev/ttyAMA0" {
		t.Fatalf("cfg %v, path %q, err %v", cfg, got, err)
	}
	f.Console = ""
	if cfg, _, err := loadAndReset(f, &bytes.Buffer{}); cfg != nil || err == nil {
		t.Fatalf("without a console: cfg %v, err %v", cfg, err)
	}
}

// A factory reset asked on the console is finished at the next start,
// before anything opens the data directory.
func TestFactoryResetIsFinishedAtStart(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "loaxa.toml")
	os.WriteFile(path, []byte("id = \"pole-1\"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "session"), []byte("7\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "factory-reset.json"), []byte(`{"version":1}`), 0o600)
	f, _ := ParseFlags([]string{"--data-dir", dir}, &bytes.Buffer{})
	var stderr bytes.Buffer
	cfg, _, err := loadAndReset(f, &stderr)
	if err != nil || cfg.ID != "" || !strings.Contains(stderr.String(), "factory reset done") {
		t.Fatalf("id %q, err %v, stderr %q", cfg.ID, err, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "session")); err == nil {
		t.Error("the data directory was not emptied")
	}
}

// ptyMaster opens a pseudo-terminal and returns its master (a Close ends
// a Read in progress) and the slave's path; the slave stays open.
func ptyMaster(t *testing.T) (*os.File, string) {
	t.Helper()
	p := testenv.OpenPTY(t, false)
	return p.Master, p.Path
}

// A blank board (no device id) keeps running for its console, which says
// why the agent does not run and restarts the daemon when asked.
func TestBlankBoardServesItsConsole(t *testing.T) {
	master, port := ptyMaster(t)
	cl := console.NewClient(master, clock.Real{})
	defer cl.Close()
	dir := t.TempDir()
	var stderr testenv.Buffer
	code := make(chan int, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		code <- Main(ctx, []string{"--sim", "--data-dir", dir, "--console", port}, "test", &bytes.Buffer{}, &stderr)
	}()
	// The console answers at once ("the agent is starting"), then says
	// why the agent cannot start.
	for deadline := time.Now().Add(30 * time.Second); ; {
		rep, err := cl.Do(ctx, 30*time.Second, "banner", nil)
		if err != nil || !rep.OK {
			t.Fatalf("banner: %+v %v\n%s", rep, err, stderr.String())
		}
		var bn struct{ Banner console.Banner }
		json.Unmarshal(rep.Result, &bn)
		if bn.Banner.ID != "" {
			t.Fatalf("banner %+v", bn.Banner)
		}
		if strings.Contains(bn.Banner.Link, "a blank board: no device id yet") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("banner %+v", bn.Banner)
		}
		time.Sleep(10 * time.Millisecond)
	}
	rep, err := cl.Do(ctx, 30*time.Second, "ping", nil)
	if err != nil || rep.Error == nil || rep.Error.Code != "unsupported" {
		t.Fatalf("ping on a blank board: %+v %v", rep, err)
	}
	select {
	case c := <-code:
		t.Fatalf("the daemon exited (%d) on a blank board:\n%s", c, stderr.String())
	default:
	}
	if rep, err := cl.Do(ctx, 30*time.Second, "restart", nil); err != nil || !rep.OK {
		t.Fatalf("restart: %+v %v", rep, err)
	}
	select {
	case c := <-code:
		if c != ExitRestart {
			t.Fatalf("exit %d, want %d", c, ExitRestart)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the daemon did not restart")
	}
	if _, err := config.Load(filepath.Join(dir, "loaxa.toml")); err == nil {
		t.Error("a configuration was written without provisioning")
	}
}
