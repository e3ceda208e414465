package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/loaxa/loaxa/agent/health"
	"github.com/loaxa/loaxa/hal"
)

// This file is the board's health: the CPU temperature's level (alarms,
// and the volume cap at critical) and the free space of the data
// partition (disk_low). A part reads both in its own goroutine: statfs on
// a failing SD card can block, and Run must not. The amplifier-fault,
// door and mains inputs are in inputs.go.

// healthPoll is how often temperature and free space are read: both
// change over minutes, and a reading costs a file read and a statfs.
const healthPoll = 10 * time.Second

// healthReading is one reading of the board's sensors, taken off Run.
type healthReading struct {
	temp    *float64
	tempErr error
	disk    *health.Disk
	diskErr error
}

// healthState is what Run keeps of the board's health.
type healthState struct {
	thermal health.ThermalLevel
	last    healthReading
	diskLow bool
}

// readHealth reads the sensors. It runs on the health part's goroutine
// (and once in New): it touches no agent state.
func readHealth(board hal.Board, dataDir string) healthReading {
	var r healthReading
	if board != nil {
		if c, err := board.CPUTemp(); err == nil {
			r.temp = &c
		} else {
			r.tempErr = err
		}
	}
	if d, err := health.DiskSpace(dataDir); err == nil {
		r.disk = &d
	} else {
		r.diskErr = err
	}
	return r
}

// setupHealth takes a first reading (so the first telemetry and the
// alarms at start have it) and registers the part that reads the sensors
// every healthPoll. Called from New.
func (a *Agent) setupHealth() {
	board, dir := a.hw.Board, a.cfg.DataDir
	a.applyHealth(readHealth(board, dir))
	a.addPart(func(ctx context.Context, wg *sync.WaitGroup) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := a.clk.NewTicker(healthPoll)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C():
				}
				r := readHealth(board, dir)
				if !a.Do(ctx, func() { a.applyHealth(r) }) {
					return
				}
			}
		}()
	})
}

// applyHealth applies a reading: the thermal level and its alarms and
// volume cap, and disk_low.
func (a *Agent) applyHealth(r healthReading) {
	a.health.last = r
	if r.tempErr != nil && !errors.Is(r.tempErr, hal.ErrAbsent) {
		a.log.Debug("cpu temperature", "err", r.tempErr)
	}
	changed := a.applyThermal()
	if r.diskErr != nil {
		a.log.Debug("free space of the data partition", "err", r.diskErr)
	} else {
		p := health.DiskLow{MinFree: uint64(a.cfg.Health.DiskMinFreeMB) << 20}
		// The detail says how much is free when the alarm is raised; it is
		// not raised again as the figure moves (its event would repeat).
		low, detail := p.Active(a.health.diskLow, *r.disk)
		switch {
		case low && !a.health.diskLow:
			a.raise("disk_low", detail)
			changed = true
		case !low && a.health.diskLow:
			a.clear("disk_low")
			changed = true
		}
		a.health.diskLow = low
	}
	if changed {
		a.publishState()
	}
}

// applyThermal moves the thermal level after the last reading (or a
// change of its thresholds), and reports whether it moved. A sensor that
// could not be read keeps the level: a board that is hot stays capped.
func (a *Agent) applyThermal() bool {
	pol := a.cfg.Health.Thermal()
	prev := a.health.thermal
	lvl := pol.Next(prev, a.health.last.temp)
	if lvl == prev {
		return false
	}
	a.health.thermal = lvl
	if prev.Alarm() != "" {
		a.clear(prev.Alarm())
	}
	c := *a.health.last.temp // a level moves only on a reading
	switch lvl {
	case health.ThermalWarning:
		a.raise(lvl.Alarm(), fmt.Sprintf("CPU at %.1f °C, warning from %.0f °C", c, pol.WarningC))
	case health.ThermalCritical:
		a.raise(lvl.Alarm(), fmt.Sprintf("CPU at %.1f °C, critical from %.0f °C: the volume is held at %d until it is below %.0f °C",
			c, pol.CriticalC, pol.CriticalVolume, pol.CriticalC-pol.HysteresisC))
	}
	a.log.Info("thermal level", "level", lvl.String(), "cpu_temp_c", c)
	a.regain()
	return true
}

// regain applies the gain of the item on air again, after its cap moved
// (ramped by the player: no click).
func (a *Agent) regain() {
	if it := a.seq.Item(); it != nil && a.player != nil {
		a.player.SetGain(a.itemGain(it))
	}
}

// volumeCap is the highest level the output may play at now: 100, or
// health.critical_volume while the board is critically hot (itemVolume
// holds every item to it, emergencies too).
func (a *Agent) volumeCap() int {
	return a.cfg.Health.Thermal().Volume(a.health.thermal, 100)
}

// volumeCapDoc is the state's volume_cap: the cap while it applies.
func (a *Agent) volumeCapDoc() *int {
	if a.health.thermal != health.ThermalCritical {
		return nil
	}
	v := a.volumeCap()
	return &v
}

// applyHealthConfig takes new health thresholds from config.set: the
// level is judged again on the last reading, and the cap follows.
func (a *Agent) applyHealthConfig() {
	changed := false
	if a.health.last.temp != nil && a.applyThermal() {
		changed = true
	}
	if a.health.thermal == health.ThermalCritical {
		a.regain() // critical_volume may have changed
		changed = true
	}
	if changed {
		a.publishState()
	}
}

// healthTele fills the telemetry's temperature and free space from the
// last reading.
func (a *Agent) healthTele() (temp *float64, free *uint64) {
	r := a.health.last
	if r.disk != nil {
		f := r.disk.Free
		free = &f
	}
	return r.temp, free
}
