package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/loaxa/loaxa/agent/config"
	"github.com/loaxa/loaxa/hal"
	"github.com/loaxa/loaxa/hal/gpio"
	halmodem "github.com/loaxa/loaxa/hal/modem"
	"github.com/loaxa/loaxa/internal/clock"
	simmodem "github.com/loaxa/loaxa/sim/modem"
)

// SimModemDir is where --sim keeps the emulated modem's control files and
// at.log, under DATA_DIR.
const SimModemDir = "sim/modem"

// ModemParts is the modem side of a pole: the AT port the agent polls, and
// the relay that cuts the modem's power, when wired.
type ModemParts struct {
	// Modem is nil when none could be set up (Missing says why).
	Modem hal.Modem
	// Power is nil unless hardware.modem_power names a pin that works.
	Power hal.Output
	// Missing maps a part ("modem", "modem_power") to why it is missing.
	Missing map[string]string

	sim *simmodem.Modem
}

// Close halts the modem's port and stops the emulated modem; the agent
// has stopped polling by then. Safe to call more than once.
func (p *ModemParts) Close() error {
	var errs []error
	if p.Modem != nil {
		errs = append(errs, p.Modem.Halt())
	}
	if p.sim != nil {
		errs = append(errs, p.sim.Close())
	}
	return errors.Join(errs...)
}

// Modem opens the modem: with --sim the emulated EC25 under
// DATA_DIR/sim/modem (its tty symlink is the port), else modem.port, or
// the modem found on USB by modem.usb_id or among the known modems. A
// board with no modem is not an error: the port is looked for at every
// reading (a USB modem enumerates seconds after boot), and the agent
// reports the modem missing while none is found. Nothing here blocks on
// the modem.
func Modem(cfg *config.Config, useSim bool, clk clock.Clock, log *slog.Logger) *ModemParts {
	p := &ModemParts{Missing: map[string]string{}}
	mc := halmodem.Config{
		Port:   cfg.Modem.Port,
		APN:    cfg.Modem.APN,
		NoGNSS: !cfg.Modem.GNSS,
		Clock:  clk,
		Logger: log.With("component", "modem"),
	}
	if cfg.Modem.UsbID != "" {
		id, err := halmodem.ParseUSBID(cfg.Modem.UsbID)
		if err != nil { // validated with the configuration
			p.Missing["modem"] = fmt.Sprintf("modem.usb_id: %v", err)
			return p
		}
		mc.USB = []halmodem.USBID{id}
	}
	if useSim {
		s, err := simmodem.Start(simmodem.Options{Dir: filepath.Join(cfg.DataDir, SimModemDir), Clock: clk, Logger: log.With("component", "sim-modem")})
		if err != nil {
			p.Missing["modem"] = fmt.Sprintf("simulated modem: %v", err)
			return p
		}
		p.sim = s
		mc.Port, mc.USB = s.Path(), nil
		log.Info("simulated modem", "port", s.Path(), "control", filepath.Dir(s.Path()))
	}
	m, err := halmodem.New(mc)
	if err != nil { // the APN was validated with the configuration
		p.Missing["modem"] = err.Error()
		return p
	}
	p.Modem = m
	p.Power, p.Missing["modem_power"] = modemPower(cfg, useSim, log)
	if p.Missing["modem_power"] == "" {
		delete(p.Missing, "modem_power")
	}
	return p
}

// modemPower opens the relay of hardware.modem_power, if one is named.
func modemPower(cfg *config.Config, useSim bool, log *slog.Logger) (hal.Output, string) {
	pc := cfg.Hardware.ModemPower
	if pc.Pin == "" {
		return nil, ""
	}
	if useSim {
		// Not simulated: the emulated modem has no supply to cut.
		log.Info("hardware.modem_power is not simulated: the watchdog resets the modem with AT+CFUN=1,1 only", "pin", pc.Pin)
		return nil, ""
	}
	// The relay is one more GPIO line, opened on its own so that a missing
	// modem relay does not take the zones with it.
	hw, err := gpio.Open(hal.Layout{Amp: pc})
	if err != nil {
		return nil, fmt.Sprintf("hardware.modem_power: %v", err)
	}
	return hw.Amp, ""
}
