package modem

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.bug.st/serial"

	"github.com/loaxa/loaxa/hal"
	"github.com/loaxa/loaxa/internal/clock"
)

// Defaults of Config.
const (
	DefaultBaud           = 115200
	DefaultCommandTimeout = 3 * time.Second
	// DefaultRadioTimeout bounds AT+CFUN: Quectel gives it up to 15 s.
	DefaultRadioTimeout = 15 * time.Second
)

// ErrPortMissing is wrapped when the modem's port is not there although a
// modem is expected: the configured port does not exist, or a modem that
// was seen since start left the USB bus. Unlike hal.ErrAbsent it is a
// failure (modem.unresponsive), usually a transient one: a resetting
// modem comes back within seconds.
var ErrPortMissing = errors.New("modem port missing")

// ErrHalted is wrapped by the errors of a Modem after Halt.
var ErrHalted = errors.New("modem halted")

// Config configures a Modem. The zero value looks for any of KnownModems on
// USB.
type Config struct {
	// Port is the AT port's path, e.g. "/dev/ttyUSB2" or a udev symlink
	// such as "/dev/modem-at". Empty: find it by USB.
	Port string
	// USB lists the modems to look for when Port is empty; nil means
	// KnownModems.
	USB []USBID
	// Baud is the port's speed; USB modems ignore it. 0 means DefaultBaud.
	Baud int
	// APN, when set, is written to PDP context 1 if the modem has another
	// one. Empty: the default for the SIM's network (APNs), if any.
	APN string
	// APNs maps the SIM's MCC+MNC to an APN; nil means DefaultAPNs.
	APNs map[string]string
	// NoGNSS leaves the modem's GNSS receiver off and unread.
	NoGNSS bool
	// CommandTimeout bounds each query; 0 means DefaultCommandTimeout.
	CommandTimeout time.Duration
	// RadioTimeout bounds AT+CFUN; 0 means DefaultRadioTimeout.
	RadioTimeout time.Duration
	// SysRoot and DevRoot are where sysfs and device nodes are ("/sys",
	// "/dev" when empty); tests point them at a fake tree.
	SysRoot, DevRoot string
	// Open opens a port; nil means go.bug.st/serial at Baud, 8N1.
	Open func(path string, baud int) (io.ReadWriteCloser, error)
	// Clock times commands; nil means the real clock.
	Clock clock.Clock
	// Logger; nil discards.
	Logger *slog.Logger
}

type vendor int

const (
	vendorGeneric vendor = iota
	vendorQuectel
	vendorSIMCom
)

// Modem is the hal.Modem of a Quectel, SIMCom or any 3GPP TS 27.007 modem
// on a serial (usually USB) AT port. It opens the port on first use, and
// again after the modem left the bus (a USB reset gives it another tty
// name: the port is found again by path or by USB id). Its methods are
// safe for concurrent use and run one at a time; each is bounded by its
// ctx and by the per-command timeouts. It starts goroutines only through
// its Client, which Halt stops.
type Modem struct {
	cfg  Config
	clk  clock.Clock
	log  *slog.Logger
	sem  chan struct{} // one operation at a time
	dead atomic.Bool   // set by Halt

	// Owned by the holder of sem.
	vendor              vendor
	vendorName, model   string
	imei                string
	apnFor, apn         string // the IMSI whose APN was checked, and the APN then
	fails               int    // consecutive operations that timed out
	seen                bool   // a modem answered since New
	reinit              atomic.Bool
	lastPath, lastModel string

	mu     sync.Mutex // guards client and desc
	client *Client
	desc   string
}

var _ hal.Modem = (*Modem)(nil)

// New checks cfg and returns a Modem; it does not touch the port yet.
func New(cfg Config) (*Modem, error) {
	if cfg.Baud == 0 {
		cfg.Baud = DefaultBaud
	}
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = DefaultCommandTimeout
	}
	if cfg.RadioTimeout <= 0 {
		cfg.RadioTimeout = DefaultRadioTimeout
	}
	if cfg.SysRoot == "" {
		cfg.SysRoot = "/sys"
	}
	if cfg.DevRoot == "" {
		cfg.DevRoot = "/dev"
	}
	if cfg.Open == nil {
		cfg.Open = openSerial
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.USB == nil && cfg.Port == "" {
		for _, k := range KnownModems {
			cfg.USB = append(cfg.USB, k.ID)
		}
	}
	if err := CheckAPN(cfg.APN); err != nil {
		return nil, fmt.Errorf("modem: %w", err)
	}
	if err := CheckAPNTable(cfg.APNs); err != nil {
		return nil, fmt.Errorf("modem: %w", err)
	}
	m := &Modem{cfg: cfg, clk: cfg.Clock, log: cfg.Logger, sem: make(chan struct{}, 1)}
	m.desc = m.describe("")
	return m, nil
}

func openSerial(path string, baud int) (io.ReadWriteCloser, error) {
	p, err := serial.Open(path, &serial.Mode{BaudRate: baud})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// Bytes from before (boot messages, a previous owner's answers) would
	// be taken for answers.
	_ = p.ResetInputBuffer()
	return p, nil
}

// String names the modem and its port.
func (m *Modem) String() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.desc
}

func (m *Modem) describe(path string) string {
	name := "modem"
	if m.lastModel != "" {
		name = m.lastModel
	}
	switch {
	case path != "":
		return name + " on " + path
	case m.cfg.Port != "":
		return name + " on " + m.cfg.Port + " (closed)"
	}
	ids := make([]string, len(m.cfg.USB))
	for i, id := range m.cfg.USB {
		ids[i] = id.String()
	}
	return name + " on USB " + strings.Join(ids, ", ") + " (closed)"
}

// acquire takes the operation slot, or fails when ctx ends or the modem
// was halted.
func (m *Modem) acquire(ctx context.Context) error {
	if m.dead.Load() {
		return fmt.Errorf("modem: %w", ErrHalted)
	}
	select {
	case m.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("modem: waiting for the previous operation: %w", ctx.Err())
	}
	if m.dead.Load() {
		<-m.sem
		return fmt.Errorf("modem: %w", ErrHalted)
	}
	return nil
}

func (m *Modem) release() { <-m.sem }

// Halt closes the port. A running operation fails at once; later ones
// fail with ErrHalted. Safe to call more than once.
func (m *Modem) Halt() error {
	m.dead.Store(true)
	m.mu.Lock()
	c := m.client
	m.client = nil
	m.mu.Unlock()
	if c != nil {
		return c.Close()
	}
	return nil
}

// Read takes one reading; see hal.Modem.
func (m *Modem) Read(ctx context.Context) (hal.ModemReading, error) {
	var r hal.ModemReading
	if err := m.acquire(ctx); err != nil {
		return r, err
	}
	defer m.release()
	c, err := m.open(ctx)
	if err != nil {
		return r, err
	}
	err = m.read(ctx, c, &r)
	m.settle(c, err)
	return r, err
}

// RadioOff sends AT+CFUN=0.
func (m *Modem) RadioOff(ctx context.Context) error { return m.simple(ctx, "AT+CFUN=0") }

// RadioOn sends AT+CFUN=1.
func (m *Modem) RadioOn(ctx context.Context) error { return m.simple(ctx, "AT+CFUN=1") }

// Reset sends AT+CFUN=1,1 and lets go of the port: the modem restarts and
// re-enumerates, and the next operation finds it again. A port that fails
// right after the command was sent counts as a reset that happened.
func (m *Modem) Reset(ctx context.Context) error {
	if err := m.acquire(ctx); err != nil {
		return err
	}
	defer m.release()
	c, err := m.open(ctx)
	if err != nil {
		return err
	}
	_, err = c.Command(ctx, "AT+CFUN=1,1", m.cfg.RadioTimeout)
	if errors.Is(err, ErrClosed) && !m.dead.Load() {
		m.log.Info("modem left the port after AT+CFUN=1,1", "err", err)
		err = nil
	}
	m.dropClient(c)
	if err == nil {
		m.log.Info("modem reset", "modem", m.String())
	}
	return err
}

func (m *Modem) simple(ctx context.Context, cmd string) error {
	if err := m.acquire(ctx); err != nil {
		return err
	}
	defer m.release()
	c, err := m.open(ctx)
	if err != nil {
		return err
	}
	_, err = c.Command(ctx, cmd, m.cfg.RadioTimeout)
	m.settle(c, fatalOnly(err))
	return err
}

func fatalOnly(err error) error {
	if isRefused(err) {
		return nil
	}
	return err
}

// settle counts failures: a port that failed, or two operations in a row
// that timed out, close the client, so that the next operation opens the
// port afresh (perhaps under another name).
func (m *Modem) settle(c *Client, err error) {
	switch {
	case err == nil:
		m.fails = 0
	case errors.Is(err, ErrClosed):
		m.dropClient(c)
	case errors.Is(err, ErrTimeout):
		m.fails++
		if m.fails >= 2 {
			m.log.Warn("modem does not answer: reopening its port", "modem", m.String(), "err", err)
			m.dropClient(c)
			m.fails = 0
		}
	}
}

func (m *Modem) dropClient(c *Client) {
	m.mu.Lock()
	if m.client == c {
		m.client = nil
		m.desc = m.describe("")
	}
	m.mu.Unlock()
	_ = c.Close()
}

// open returns the running client, opening the port and initialising the
// modem when needed; m.sem is held.
func (m *Modem) open(ctx context.Context) (*Client, error) {
	m.mu.Lock()
	c := m.client
	m.mu.Unlock()
	if c != nil {
		select {
		case <-c.Done():
			m.dropClient(c)
			c = nil
		default:
		}
	}
	if c == nil {
		path, err := m.findPort()
		if err != nil {
			return nil, err
		}
		port, err := m.cfg.Open(path, m.cfg.Baud)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("modem: %w: %w", err, ErrPortMissing)
			}
			return nil, fmt.Errorf("modem: %w", err)
		}
		c = NewClient(port, ClientOptions{Clock: m.clk, Logger: m.log})
		m.handleURCs(c)
		m.mu.Lock()
		if m.dead.Load() {
			m.mu.Unlock()
			_ = c.Close()
			return nil, fmt.Errorf("modem: %w", ErrHalted)
		}
		m.client = c
		m.lastPath = path
		m.desc = m.describe(path)
		m.mu.Unlock()
		m.reinit.Store(true)
		m.log.Info("modem port open", "path", path)
	}
	if m.reinit.Load() {
		if err := m.init(ctx, c); err != nil {
			m.settle(c, err)
			if !errors.Is(err, ErrClosed) {
				// A modem that does not get through its set-up is not
				// kept half-configured: start over next time.
				m.dropClient(c)
			}
			return nil, err
		}
	}
	return c, nil
}

// findPort resolves the port's path now: the configured one, or the USB
// search.
func (m *Modem) findPort() (string, error) {
	if m.cfg.Port != "" {
		if _, err := os.Stat(m.cfg.Port); err != nil {
			return "", fmt.Errorf("modem: port %s: %w: %w", m.cfg.Port, err, ErrPortMissing)
		}
		return m.cfg.Port, nil
	}
	path, err := FindUSBPort(m.cfg.SysRoot, m.cfg.DevRoot, m.cfg.USB)
	if err != nil && m.seen && errors.Is(err, hal.ErrAbsent) {
		// It was here: it is gone, not absent.
		return "", fmt.Errorf("modem: the modem left the USB bus (%v): %w", err, ErrPortMissing)
	}
	return path, err
}

// handleURCs routes the unsolicited codes a modem sends on its AT port.
// They are logged and otherwise ignored, except that RDY (the modem
// restarted) makes the next operation set the modem up again: a restart
// turns echo back on and GNSS off.
func (m *Modem) handleURCs(c *Client) {
	for _, p := range []string{"RDY", "POWERED DOWN", "+QIND:", "+QUSIM:", "SMS DONE", "PB DONE", "+CPIN:", "+CFUN:", "+CGEV:", "+CTZV:", "+CTZE:", "*PSUTTZ", "DST:", "+QGPSURC:", "+CGPSINFO:", "+QNITZ:", "+CUSD:", "+CMTI:", "+CREG:", "+CGREG:", "+CEREG:"} {
		prefix := p
		c.Handle(prefix, func(line string) {
			switch {
			case prefix == "RDY":
				m.reinit.Store(true)
				m.log.Info("modem restarted", "urc", line)
			case strings.HasSuffix(prefix, "REG:"):
				m.log.Info("modem registration changed", "urc", line)
			default:
				m.log.Debug("modem unsolicited", "urc", line)
			}
		})
	}
}

// init sets the modem up on a newly opened port or after it restarted.
func (m *Modem) init(ctx context.Context, c *Client) error {
	// Echo off; the client copes either way, but less is sent back.
	if _, err := m.query(ctx, c, "ATE0"); err != nil {
		return err
	}
	if _, err := m.query(ctx, c, "AT+CMEE=1"); err != nil {
		return err
	}
	m.vendor, m.vendorName = vendorGeneric, ""
	if resp, err := m.query(ctx, c, "AT+CGMI"); err != nil {
		return err
	} else if resp != nil {
		m.vendorName = bareLine(resp, "+CGMI:")
	}
	if m.vendorName == "" {
		if resp, err := m.query(ctx, c, "ATI"); err != nil {
			return err
		} else if resp != nil {
			m.vendorName = bareLine(resp, "")
			m.vendorName = strings.TrimSpace(strings.TrimPrefix(m.vendorName, "Manufacturer:"))
		}
	}
	switch v := strings.ToLower(m.vendorName); {
	case strings.Contains(v, "quectel"):
		m.vendor = vendorQuectel
	case strings.Contains(v, "simcom"):
		m.vendor = vendorSIMCom
	}
	m.model = ""
	if resp, err := m.query(ctx, c, "AT+CGMM"); err != nil {
		return err
	} else if resp != nil {
		m.model = bareLine(resp, "+CGMM:")
	}
	m.imei = ""
	if resp, err := m.query(ctx, c, "AT+CGSN"); err != nil {
		return err
	} else if resp != nil {
		if s := parseDigits(resp.Lines, 14, 16); s != nil {
			m.imei = *s
		}
	}
	if !m.cfg.NoGNSS {
		// Already on is an error (Quectel: +CME ERROR: 504); either way
		// it is on.
		switch m.vendor {
		case vendorQuectel:
			if _, err := m.query(ctx, c, "AT+QGPS=1"); err != nil {
				return err
			}
		case vendorSIMCom:
			if _, err := m.query(ctx, c, "AT+CGPS=1"); err != nil {
				return err
			}
		}
	}
	m.apnFor = "" // check the APN again: the modem may have been replaced
	m.seen = true
	m.reinit.Store(false)
	name := strings.TrimSpace(m.vendorName + " " + m.model)
	m.mu.Lock()
	m.lastModel = name
	m.desc = m.describe(m.lastPath)
	m.mu.Unlock()
	m.log.Info("modem ready", "modem", m.String(), "imei", m.imei != "")
	return nil
}

// query runs one query. A command the modem refused gives (nil, nil): the
// value is unknown and the reading goes on. Anything else (a timeout, a
// failed port, ctx) is returned and ends the operation.
func (m *Modem) query(ctx context.Context, c *Client, cmd string) (*Response, error) {
	resp, err := c.Command(ctx, cmd, m.cfg.CommandTimeout)
	if isRefused(err) {
		m.log.Debug("modem refused a query", "cmd", cmd, "err", err)
		return nil, nil
	}
	return resp, err
}
