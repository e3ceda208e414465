package daemon

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFlagsOverrideTheFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "loaxa.toml")
	os.WriteFile(path, []byte("id = \"from-file\"\ntele_interval = 30\n[mqtt]\nbroker = \"tcp://file:1883\"\n"), 0o600)
	f, err := ParseFlags([]string{"--config", path, "--id", "from-flag", "--broker", "embedded", "--data-dir", dir}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, saveTo, err := LoadConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ID != "from-flag" || cfg.MQTT.Broker != "embedded" || cfg.DataDir != dir || cfg.TeleInterval != 30 || saveTo != path {
		t.Fatalf("config %+v saved to %s", cfg, saveTo)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "loaxa.toml")
	os.WriteFile(path, []byte("id = \"pole-1\"\npower_on = \"sometimes\"\n"), 0o600)
	var stderr bytes.Buffer
	code := Main(context.Background(), []string{"--config", path}, "test", &bytes.Buffer{}, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "power_on") {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	code = Main(context.Background(), []string{"--config", filepath.Join(dir, "missing.toml")}, "test", &bytes.Buffer{}, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "missing.toml") {
		t.Fatalf("missing file: exit %d, stderr %q", code, stderr.String())
	}
	code = Main(context.Background(), []string{"--bogus"}, "test", &bytes.Buffer{}, &stderr)
	if code != 2 {
		t.Fatalf("unknown flag: exit %d", code)
	}
}

func TestWithoutConfigTheDataDirFileIsUsed(t *testing.T) {
	dir := t.TempDir()
	f, _ := ParseFlags([]string{"--sim", "--data-dir", dir}, &bytes.Buffer{})
	cfg, saveTo, err := LoadConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	if saveTo != filepath.Join(dir, "loaxa.toml") || cfg.ID != "sim-pole" || len(cfg.ZoneNames()) != 4 {
		t.Fatalf("id %q zones %v save to %s", cfg.ID, cfg.ZoneNames(), saveTo)
	}
}

func TestNoGPIOMeansDegradedNotDead(t *testing.T) {
	f, _ := ParseFlags([]string{"--id", "pole-1", "--data-dir", t.TempDir()}, &bytes.Buffer{})
	cfg, _, err := LoadConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	hw, _, missing, err := Hardware(cfg, false, nil)
	if err != nil {
		t.Fatalf("a board without the configured pins must not stop the agent: %v", err)
	}
	if _, err := os.Stat("/dev/gpiomem"); err == nil {
		t.Skip("this machine has GPIO")
	}
	if missing["gpio"] == "" || hw.Board == nil {
		t.Fatalf("missing = %v", missing)
	}
}

func TestVersionFlag(t *testing.T) {
	var out bytes.Buffer
	if code := Main(context.Background(), []string{"--version"}, "v1.2.3", &out, &bytes.Buffer{}); code != 0 || !strings.Contains(out.String(), "v1.2.3") {
		t.Fatalf("exit %d out %q", code, out.String())
	}
}
