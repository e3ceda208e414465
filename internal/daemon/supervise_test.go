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

	"github.com/loaxa/loaxa/internal/testenv"
	"github.com/loaxa/loaxa/ota"
	"github.com/loaxa/loaxa/ota/supervisor"
)

func TestSuperviseFlags(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := Supervise(context.Background(), []string{"--version"}, "v1.2.3", "/nonexistent", &stdout, &stderr); code != 0 || stdout.String() != "loaxad v1.2.3\n" {
		t.Errorf("--version: exit %d, %q", code, stdout.String())
	}
	if code := Supervise(context.Background(), []string{"--bogus"}, "v1.2.3", "/nonexistent", &stdout, &stderr); code != 2 {
		t.Errorf("an unknown flag: exit %d", code)
	}
}

// On a blank data directory the supervisor installs its own binary as
// slot a and runs it with loaxad's flags and the handoff in its
// environment; a SIGTERM (ctx) stops both.
func TestSuperviseInstallsItselfOnABlankDataDir(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "loaxa.toml")
	os.WriteFile(cfg, []byte("id = \"pole-s\"\n[ota]\ntrial_s = 30\n"), 0o600)
	// The "binary": a script that records how it was started, then waits.
	self := filepath.Join(t.TempDir(), "loaxad")
	marker := filepath.Join(dir, "started")
	script := "#!/bin/sh\necho \"$*\" > " + marker + ".tmp\necho \"$" + supervisor.EnvInfo + "\" >> " + marker + ".tmp\nmv " + marker + ".tmp " + marker + "\nexec sleep 600\n"
	if err := os.WriteFile(self, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	out := &testenv.Buffer{}
	args := []string{"--config", cfg, "--data-dir", dir}
	go func() { done <- Supervise(ctx, args, "v9.9.9", self, out, out) }()
	var started []byte
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var err error
		if started, err = os.ReadFile(marker); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("the first slot never started; supervisor log:\n%s", out.String())
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit %d after SIGTERM; log:\n%s", code, out.String())
	}
	lines := strings.SplitN(string(started), "\n", 2)
	if lines[0] != strings.Join(args, " ") {
		t.Errorf("the agent was started with %q, want loaxad's flags %q", lines[0], args)
	}
	var info ota.BootInfo
	if err := json.Unmarshal([]byte(lines[1]), &info); err != nil || info.Slot != "a" || info.Version != "v9.9.9" || info.Trial {
		t.Errorf("handoff %q: %+v, %v", lines[1], info, err)
	}
	si, err := ota.NewLayout(dir).ReadSlotInfo("a")
	if err != nil || si.Origin != ota.OriginFactory || si.Version != "v9.9.9" {
		t.Errorf("slot a: %+v, %v", si, err)
	}
}
