package sim

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/loaxa/loaxa/hal"
)

// board is the simulated single-board computer.
type board struct{ h *Hardware }

func (b *board) String() string { return "sim board" }

// CPUTemp returns the temperature from DIR/temp (degrees Celsius) when that
// file exists, else the value of SetTemp.
func (b *board) CPUTemp() (float64, error) {
	h := b.h
	if h.dir != "" {
		path := filepath.Join(h.dir, tempFile)
		data, err := os.ReadFile(path)
		switch {
		case err == nil:
			s := strings.TrimSpace(string(data))
			c, err := strconv.ParseFloat(s, 64)
			if err != nil || math.IsNaN(c) || math.IsInf(c, 0) {
				if len(s) > 40 {
					s = s[:40] + "..."
				}
				return 0, fmt.Errorf("sim: %s holds %q, want a temperature in degrees Celsius such as 47.5", path, s)
			}
			return c, nil
		case !errors.Is(err, fs.ErrNotExist):
			return 0, fmt.Errorf("sim: read temperature: %w", err)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.temp, nil
}

// Reboot records the request; it never reboots anything.
func (b *board) Reboot() error {
	h := b.h
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reboots++
	if h.dir == "" {
		return nil
	}
	rec := struct {
		Time time.Time `json:"time"`
	}{h.clk.Now()}
	return appendJSONLine(filepath.Join(h.dir, rebootsFile), rec)
}

func (b *board) Halt() error { return nil }

// ClockFile is the simulated clock's status under the sim directory:
// "synced" (also when the file is absent) or "unsynced".
const ClockFile = "clock"

// ClockStatus reports the simulated clock's synchronisation: DIR/clock
// holds "synced" or "unsynced" (absent: synced, with a 1 ms error bound).
// The test machine's own clock stands in for a synchronised one.
func (b *board) ClockStatus() (hal.ClockStatus, error) {
	st := hal.ClockStatus{Synced: true, MaxError: time.Millisecond, Source: "sim"}
	h := b.h
	if h.dir == "" {
		return st, nil
	}
	data, err := os.ReadFile(filepath.Join(h.dir, ClockFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return st, nil
	case err != nil:
		return hal.ClockStatus{Source: "sim"}, fmt.Errorf("sim: read clock status: %w", err)
	}
	switch v := strings.TrimSpace(string(data)); v {
	case "synced", "":
		return st, nil
	case "unsynced":
		return hal.ClockStatus{Source: "sim"}, nil
	default:
		if len(v) > 40 {
			v = v[:40] + "..."
		}
		return hal.ClockStatus{Source: "sim"}, fmt.Errorf("sim: %s holds %q, want synced or unsynced", filepath.Join(h.dir, ClockFile), v)
	}
}

// SetTemp sets the CPU temperature in degrees Celsius (45.0 at start). A
// DIR/temp file, when present, takes precedence.
func (h *Hardware) SetTemp(c float64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.temp = c
}

// Reboots returns how many reboots were requested since NewHardware.
func (h *Hardware) Reboots() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.reboots
}
