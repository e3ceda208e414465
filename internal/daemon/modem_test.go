package daemon

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loaxa/loaxa/hal"
	"github.com/loaxa/loaxa/internal/clock"
)

// --sim gives the agent the emulated modem under DATA_DIR/sim/modem,
// reached through the real AT code.
func TestSimModemIsTheEmulatedEC25(t *testing.T) {
	dir := t.TempDir()
	f, _ := ParseFlags([]string{"--sim", "--data-dir", dir}, &bytes.Buffer{})
	cfg, _, err := LoadConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	p := Modem(cfg, true, clock.Real{}, slog.New(slog.DiscardHandler))
	defer p.Close()
	if p.Modem == nil || len(p.Missing) != 0 {
		t.Fatalf("modem %v, missing %v", p.Modem, p.Missing)
	}
	r, err := p.Modem.Read(context.Background())
	if err != nil || r.Operator == nil || *r.Operator != "Viettel" {
		t.Fatalf("reading %+v, %v", r, err)
	}
	if _, err := os.Stat(filepath.Join(dir, SimModemDir, "state")); err != nil {
		t.Errorf("the control files are not under DATA_DIR/%s: %v", SimModemDir, err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// A board without a modem gets a modem driver that finds none (the agent
// reports it missing while none appears), and a modem power relay on a
// pin the board does not have is reported missing, not fatal.
func TestNoModemOnThisBoard(t *testing.T) {
	if _, err := os.Stat("/dev/gpiomem"); err == nil {
		t.Skip("this machine has GPIO")
	}
	f, _ := ParseFlags([]string{"--id", "pole-1", "--data-dir", t.TempDir()}, &bytes.Buffer{})
	cfg, _, err := LoadConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Hardware.ModemPower = hal.PinConfig{Pin: "GPIO6"}
	p := Modem(cfg, false, clock.Real{}, slog.New(slog.DiscardHandler))
	defer p.Close()
	if p.Modem == nil {
		t.Fatalf("no modem driver: %v", p.Missing)
	}
	if _, err := p.Modem.Read(context.Background()); !errors.Is(err, hal.ErrAbsent) {
		t.Skipf("this machine seems to have a modem: %v", err)
	}
	if p.Power != nil || !strings.Contains(p.Missing["modem_power"], "GPIO6") {
		t.Fatalf("modem power %v, missing %v", p.Power, p.Missing)
	}
}
