package console

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Defaults of the [console] configuration.
const (
	DefaultBaud  = 115200
	DefaultIdleS = 600
	DefaultIdle  = DefaultIdleS * time.Second
)

// Bauds are the serial speeds the console accepts (8N1 always).
var Bauds = []int{9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600}

// Config is the [console] section of the agent's configuration, meant to be
// embedded in config.Config as a field Console with the tags
// toml:"console" json:"console". Port and Baud take effect when the agent
// restarts; Password and IdleS at once.
type Config struct {
	// Port is the serial device ("" = no console), e.g. /dev/ttyAMA0, or
	// /dev/ttyGS0 for a USB gadget. The agent's --console flag overrides it.
	Port string `toml:"port" json:"port"`
	// Baud is the serial speed, 8N1.
	Baud int `toml:"baud" json:"baud"`
	// Password is the console password as a hash (HashPassword); "" leaves
	// the console open (a blank board). config.set and provision accept a
	// plain password and store its hash (HashPasswordValues).
	Password string `toml:"password" json:"password" secret:"true"`
	// IdleS logs an idle session out, in seconds.
	IdleS int `toml:"idle_s" json:"idle_s"`
}

// DefaultConfig is the [console] section of a new board: no port (the
// install script or --console names it), 115200 baud, no password,
// 10 minutes idle.
func DefaultConfig() Config { return Config{Baud: DefaultBaud, IdleS: DefaultIdleS} }

// Validate checks the section; errors name the dotted key
// ("console.baud"), as config.Validate's do.
func (c Config) Validate() error {
	var errs []error
	if !slices.Contains(Bauds, c.Baud) {
		errs = append(errs, fmt.Errorf("key console.baud: must be one of %v, got %d", Bauds, c.Baud))
	}
	if c.IdleS < 30 || c.IdleS > 86400 {
		errs = append(errs, fmt.Errorf("key console.idle_s: must be 30..86400 seconds, got %d", c.IdleS))
	}
	if c.Password != "" {
		if err := CheckHash(c.Password); err != nil {
			// The value is a secret: the error must not quote it.
			errs = append(errs, fmt.Errorf("key console.password: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Access returns the access configuration of this section.
func (c Config) Access() Access {
	return Access{PasswordHash: c.Password, Idle: time.Duration(c.IdleS) * time.Second}
}
