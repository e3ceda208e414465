package board

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/loaxa/loaxa/hal"
)

// DefaultThermalPath is where Raspberry Pi OS (and most Linux SoCs) report
// the SoC temperature, in millidegrees Celsius.
const DefaultThermalPath = "/sys/class/thermal/thermal_zone0/temp"

// rebootTimeout bounds how long Reboot waits for the reboot command, so a
// wedged systemd cannot hang the caller for ever.
const rebootTimeout = 30 * time.Second

// Plausible SoC temperatures, in degrees Celsius. A reading outside them is a
// broken sensor, not weather.
const (
	minTemp = -60.0
	maxTemp = 150.0
)

// Board implements hal.Board on Linux. The zero value has no thermal sensor
// and no reboot command; use New for the defaults.
type Board struct {
	// ThermalPath is a sysfs file holding the SoC temperature in
	// millidegrees Celsius. Empty means the board has no sensor.
	ThermalPath string
	// RebootCommand is the command and arguments that reboot the board.
	RebootCommand []string
	// Run runs a command and returns an error if it fails. nil means
	// os/exec, with the command's output included in the error.
	Run func(ctx context.Context, name string, args ...string) error
}

var _ hal.Board = (*Board)(nil)

// New returns a Board with the Raspberry Pi defaults: thermal_zone0 and
// `systemctl reboot`, which stops services in order (the agent gets its
// SIGTERM and can release the relays) before the board restarts.
func New() *Board {
	return &Board{
		ThermalPath:   DefaultThermalPath,
		RebootCommand: []string{"systemctl", "reboot"},
	}
}

// String names the board.
func (b *Board) String() string { return "linux board" }

// CPUTemp reads the SoC temperature in degrees Celsius. A missing thermal
// file gives an error wrapping hal.ErrAbsent; a file that does not hold a
// plausible millidegree integer gives an error saying what it held.
func (b *Board) CPUTemp() (float64, error) {
	if b.ThermalPath == "" {
		return 0, fmt.Errorf("board: no thermal sensor configured: %w", hal.ErrAbsent)
	}
	data, err := os.ReadFile(b.ThermalPath)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("board: thermal sensor %s: %w", b.ThermalPath, hal.ErrAbsent)
	}
	if err != nil {
		return 0, fmt.Errorf("board: read thermal sensor: %w", err)
	}
	s := strings.TrimSpace(string(data))
	milli, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("board: thermal sensor %s: want an integer in millidegrees Celsius, got %q", b.ThermalPath, truncate(s))
	}
	c := float64(milli) / 1000
	if c < minTemp || c > maxTemp {
		return 0, fmt.Errorf("board: thermal sensor %s reads %.1f °C, outside %.0f..%.0f °C: sensor fault", b.ThermalPath, c, minTemp, maxTemp)
	}
	return c, nil
}

// Reboot asks the system to reboot and returns once the request was
// accepted. The process is normally stopped soon after.
func (b *Board) Reboot() error {
	if len(b.RebootCommand) == 0 {
		return errors.New("board: no reboot command configured")
	}
	run := b.Run
	if run == nil {
		run = runCommand
	}
	ctx, cancel := context.WithTimeout(context.Background(), rebootTimeout)
	defer cancel()
	if err := run(ctx, b.RebootCommand[0], b.RebootCommand[1:]...); err != nil {
		return fmt.Errorf("board: reboot with %q: %w", strings.Join(b.RebootCommand, " "), err)
	}
	return nil
}

// Halt does nothing: the board has no part to put in a safe state.
func (b *Board) Halt() error { return nil }

func runCommand(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		if msg := strings.TrimSpace(string(out)); msg != "" {
			return fmt.Errorf("%w: %s", err, truncate(msg))
		}
		return err
	}
	return nil
}

// truncate keeps error messages readable when a file or a command spews.
func truncate(s string) string {
	const max = 200
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
