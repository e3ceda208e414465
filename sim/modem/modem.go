package modem

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/loaxa/loaxa/internal/clock"
	"github.com/loaxa/loaxa/sim/internal/watch"
)

// State is what the emulated modem does, as written in DIR/state.
type State string

// States.
const (
	// StateRegistered: registered on Viettel's LTE network.
	StateRegistered State = "registered"
	// StateSearching: looking for a network, no cell.
	StateSearching State = "searching"
	// StateDenied: camped on a cell whose network refuses the SIM.
	StateDenied State = "denied"
	// StateNoSIM: no SIM in the holder.
	StateNoSIM State = "no-sim"
	// StateSilent: commands are read (and logged) but never answered.
	StateSilent State = "silent"
	// StateGarbage: every command is answered with noise.
	StateGarbage State = "garbage"
	// StateGone: the tty disappears, as a USB modem that fell off the
	// bus; it comes back under another name when the state changes.
	StateGone State = "gone"
)

// States lists every state.
var States = []State{StateRegistered, StateSearching, StateDenied, StateNoSIM, StateSilent, StateGarbage, StateGone}

// Defaults of Options.
const (
	DefaultRSRP          = -95.0
	DefaultMaxLogBytes   = 1 << 20
	DefaultWatch         = 100 * time.Millisecond
	DefaultResetDowntime = time.Second
)

// watchedPoll is how often a modem whose directory is watched lets go
// of a tty a killed client left exclusive (see releaseExclusive).
const watchedPoll = time.Second

// rereadWatched is how often a watched modem reads its control files
// without being told of a change.
const rereadWatched = 30 * time.Second

// maxCommandLine bounds a command line; a longer one is answered ERROR.
const maxCommandLine = 560

// maxKept bounds the commands kept in memory for Commands.
const maxKept = 1000

// Options configure an emulated modem.
type Options struct {
	// Dir holds the control and log files (loaxad --sim uses
	// DATA_DIR/sim/modem). Required.
	Dir string
	// Clock stamps the log and the network time and paces the watching of
	// the control files; nil means the real clock.
	Clock clock.Clock
	// Logger; nil discards.
	Logger *slog.Logger
	// MaxLogBytes bounds DIR/at.log: past it the file becomes at.log.1
	// and a new one starts. 0 means DefaultMaxLogBytes.
	MaxLogBytes int64
	// Watch is how often the control files are read when their
	// directory cannot be watched (inotify); 0 means DefaultWatch. A
	// watched directory's files are read at each change, and besides
	// every Watch or every rereadWatched (30 s), whichever is longer.
	Watch time.Duration
	// ResetDowntime is how long the modem is away after AT+CFUN=1,1; 0
	// means DefaultResetDowntime.
	ResetDowntime time.Duration
	// Seed makes the noise of the garbage state reproducible.
	Seed uint64
}

// Modem is an emulated Quectel EC25 behind a pseudo-terminal. Its tty is
// reached through the stable symlink Path (DIR/tty), which follows the
// tty when it comes back under another name. It owns a goroutine that
// watches the control files and one per tty that answers commands; Close
// stops and waits for them.
type Modem struct {
	o    Options
	clk  clock.Clock
	log  *slog.Logger
	quit chan struct{}
	kick chan struct{} // wakes the owner: a reset began
	// files tells of changes to the control files; nil when the
	// directory could not be watched and the owner polls them.
	files *watch.Watcher
	ran   chan struct{}  // closed when the owner goroutine returned
	wg    sync.WaitGroup // the goroutines that serve a tty
	once  sync.Once

	logMu    sync.Mutex // guards the log file's size
	logBytes int64

	mu         sync.Mutex // guards the fields below
	radio      radio
	resetUntil time.Time
	nv         nv
	cur        *tty // nil while gone
	lastName   string
	commands   []string
	rng        *rand.Rand
	ignored    int               // control-file reads ignored for their content
	badContent map[string]string // the last bad content of each file
}

// tty is one incarnation of the modem's port.
type tty struct {
	master, slave *os.File
	name          string
	done          chan struct{} // closed when its reader returned
	writeMu       sync.Mutex    // serialises writes: answers and URCs
	vol           volatile      // guarded by Modem.mu
}

// Start creates the control files that do not exist yet (state
// "registered", rsrp -95, gnss empty), opens the tty unless the state is
// "gone", and starts answering.
func Start(o Options) (*Modem, error) {
	if o.Dir == "" {
		return nil, errors.New("sim modem: no directory given")
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxLogBytes <= 0 {
		o.MaxLogBytes = DefaultMaxLogBytes
	}
	if o.Watch <= 0 {
		o.Watch = DefaultWatch
	}
	if o.ResetDowntime <= 0 {
		o.ResetDowntime = DefaultResetDowntime
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("sim modem: %w", err)
	}
	if err := createControlFiles(o.Dir); err != nil {
		return nil, err
	}
	m := &Modem{
		o: o, clk: o.Clock, log: o.Logger,
		quit:  make(chan struct{}),
		kick:  make(chan struct{}, 1),
		ran:   make(chan struct{}),
		radio: radio{state: StateRegistered, rsrp: DefaultRSRP},
		rng:   rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15)),

		badContent: map[string]string{},
	}
	if fi, err := os.Stat(m.logPath()); err == nil {
		m.logBytes = fi.Size()
	}
	// A stale link from a previous run points at a tty that is not ours.
	if err := os.Remove(m.Path()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("sim modem: %w", err)
	}
	// Watch before the first read, so that no change goes unseen.
	if w, err := watch.Dir(o.Dir, stateFile, rsrpFile, gnssFile); err != nil {
		m.log.Info("sim modem: polling the control files", "every", o.Watch, "err", err)
	} else {
		m.files = w
	}
	m.readControls()
	if err := m.reconcile(); err != nil {
		if m.files != nil {
			m.files.Close()
		}
		return nil, err
	}
	go m.run()
	return m, nil
}

// Path is the stable path of the modem's AT port: a symlink to its current
// tty, absent while the modem is gone.
func (m *Modem) Path() string { return filepath.Join(m.o.Dir, "tty") }

// TTY returns the tty the modem is on now, "" while it is gone.
func (m *Modem) TTY() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cur == nil {
		return ""
	}
	return m.cur.name
}

// State returns the state the emulator acts on now (read from DIR/state).
func (m *Modem) State() State {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.radio.state
}

// Ignored counts the reads of a control file whose content was ignored
// (nonsense, or too long), so a test can wait until the emulator has seen
// a file it wrote.
func (m *Modem) Ignored() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ignored
}

// Commands returns the last commands received (up to 1000), oldest first.
func (m *Modem) Commands() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.commands)
}

// APN returns the APN of PDP context 1 in the modem's flash.
func (m *Modem) APN() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.nv.apn
}

// SetAPN sets the APN in the modem's flash, as a SIM or a previous owner
// would have left it.
func (m *Modem) SetAPN(pdpType, apn string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nv = nv{pdpType: pdpType, apn: apn}
}

// Close closes the tty, removes its symlink and waits for the goroutines.
// Safe to call more than once.
func (m *Modem) Close() error {
	var err error
	m.once.Do(func() {
		close(m.quit)
		<-m.ran
		m.mu.Lock()
		t := m.cur
		m.cur = nil
		m.mu.Unlock()
		if t != nil {
			err = m.closeTTY(t)
		}
		m.wg.Wait()
	})
	return err
}

// run is the owner goroutine: it follows the control files and brings the
// tty up or down.
func (m *Modem) run() {
	defer close(m.ran)
	poll := m.o.Watch
	var changed <-chan struct{}
	if m.files != nil {
		defer m.files.Close()
		poll, changed = max(poll, watchedPoll), m.files.Changed()
	}
	tm := m.clk.NewTimer(poll)
	defer tm.Stop()
	var lastRead time.Time
	for {
		read := true
		select {
		case <-m.quit:
			return
		case <-tm.C():
			// Watched files are read when they change, and on the timer
			// only now and then (should the watch have failed): reading
			// three files every second was most of an idle --sim
			// agent's system calls.
			read = changed == nil || m.clk.Now().Sub(lastRead) >= rereadWatched
		case <-changed:
		case <-m.kick:
		}
		if read {
			m.readControls()
			lastRead = m.clk.Now()
		}
		if err := m.reconcile(); err != nil {
			m.log.Warn("sim modem", "err", err)
		}
		// A modem away for a reset comes back when its downtime ends.
		next := poll
		m.mu.Lock()
		if d := m.resetUntil.Sub(m.clk.Now()); d > 0 && d < next {
			next = d
		}
		m.mu.Unlock()
		if !tm.Stop() {
			select {
			case <-tm.C():
			default:
			}
		}
		tm.Reset(next)
	}
}

// reconcile opens or closes the tty to match the state; only the owner
// (or Start, before it) calls it.
func (m *Modem) reconcile() error {
	m.mu.Lock()
	away := m.radio.state == StateGone || m.clk.Now().Before(m.resetUntil)
	t := m.cur
	m.mu.Unlock()
	if t != nil && !away {
		releaseExclusive(t)
	}
	switch {
	case away && t != nil:
		// TTY says "" once the tty is closed and its symlink gone, so a
		// test that waits for it finds the modem wholly away.
		err := m.closeTTY(t)
		m.mu.Lock()
		m.cur = nil
		m.mu.Unlock()
		m.log.Info("sim modem gone", "tty", t.name)
		return err
	case !away && t == nil:
		t, err := m.openTTY()
		if err != nil {
			return err
		}
		m.mu.Lock()
		t.vol = newVolatile(m.clk.Now())
		m.cur = t
		m.lastName = t.name
		m.mu.Unlock()
		m.log.Info("sim modem up", "tty", t.name, "path", m.Path())
		m.wg.Add(1)
		go m.serve(t)
		// A modem that (re)starts says so.
		m.write(t, "\r\nRDY\r\n")
	}
	return nil
}

// openTTY opens a pseudo-terminal whose name differs from the last one
// (the kernel reuses freed numbers, a USB modem that re-enumerates gets a
// new name) and points the symlink at it.
func (m *Modem) openTTY() (*tty, error) {
	t, err := openPTY()
	if err != nil {
		return nil, fmt.Errorf("sim modem: %w", err)
	}
	m.mu.Lock()
	last := m.lastName
	m.mu.Unlock()
	if t.name == last {
		t2, err := openPTY()
		closePTY(t)
		if err != nil {
			return nil, fmt.Errorf("sim modem: %w", err)
		}
		t = t2
	}
	tmp := m.Path() + ".new"
	_ = os.Remove(tmp)
	if err := os.Symlink(t.name, tmp); err != nil {
		closePTY(t)
		return nil, fmt.Errorf("sim modem: %w", err)
	}
	if err := os.Rename(tmp, m.Path()); err != nil {
		closePTY(t)
		return nil, fmt.Errorf("sim modem: %w", err)
	}
	return t, nil
}

// closeTTY removes the symlink first (nobody should find a dead tty), then
// closes the pty, which hangs up whoever has it open, and waits for its
// reader.
func (m *Modem) closeTTY(t *tty) error {
	err := os.Remove(m.Path())
	if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	closePTY(t)
	<-t.done
	return err
}

// serve answers the commands that arrive on t until it is closed.
func (m *Modem) serve(t *tty) {
	defer m.wg.Done()
	defer close(t.done)
	buf := make([]byte, 256)
	var line []byte
	overlong := false
	for {
		n, err := t.master.Read(buf)
		for _, b := range buf[:n] {
			switch {
			case b == '\r' || b == '\n':
				if !overlong && len(line) > 0 {
					m.command(t, string(line))
				} else if overlong {
					m.write(t, "\r\nERROR\r\n")
				}
				line, overlong = line[:0], false
			case len(line) >= maxCommandLine:
				overlong = true
			case !overlong:
				line = append(line, b)
			}
		}
		if err != nil {
			return
		}
	}
}

// command logs one command line and answers it as the state says.
func (m *Modem) command(t *tty, line string) {
	m.logCommand(line)
	m.mu.Lock()
	m.commands = append(m.commands, line)
	if len(m.commands) > maxKept {
		m.commands = slices.Delete(m.commands, 0, len(m.commands)-maxKept)
	}
	r := m.radio
	echo := t.vol.echo
	var out strings.Builder
	switch r.state {
	case StateSilent:
		m.mu.Unlock()
		return
	case StateGarbage:
		out.WriteString(m.noise())
		m.mu.Unlock()
		m.write(t, out.String())
		return
	}
	rep := answer(line, r, &t.vol, &m.nv, m.clk.Now())
	if rep.reset {
		m.resetUntil = m.clk.Now().Add(m.o.ResetDowntime)
	}
	m.mu.Unlock()
	if echo {
		out.WriteString(line + "\r")
	}
	for _, l := range rep.lines {
		out.WriteString("\r\n" + l + "\r\n")
	}
	out.WriteString("\r\n" + rep.final + "\r\n")
	m.write(t, out.String())
	if rep.reset {
		select {
		case m.kick <- struct{}{}:
		default:
		}
	}
}

// noise is what a garbage modem sends: bytes of every value except those
// that could spell a result code, in lines of random length, sometimes one
// line far longer than any answer; m.mu is held.
func (m *Modem) noise() string {
	var b strings.Builder
	n := 20 + m.rng.IntN(200)
	if m.rng.IntN(4) == 0 {
		n = 2000
	}
	for range n {
		c := byte(m.rng.IntN(256))
		switch {
		case c == 'O' || c == 'E' || c == 'o' || c == 'e' || c == '+':
			c = '#'
		case n < 2000 && m.rng.IntN(40) == 0:
			c = '\n'
		}
		b.WriteByte(c)
	}
	b.WriteString("\r\n")
	return b.String()
}

// write sends s to whoever has the tty open. A tty nobody reads fills up:
// then the bytes are dropped after a second rather than wedging the
// emulator.
func (m *Modem) write(t *tty, s string) {
	t.writeMu.Lock()
	defer t.writeMu.Unlock()
	// A kernel deadline: it follows the wall clock whatever m.clk is.
	_ = t.master.SetWriteDeadline(time.Now().Add(time.Second))
	if _, err := t.master.WriteString(s); err != nil && !errors.Is(err, os.ErrClosed) {
		m.log.Debug("sim modem write", "tty", t.name, "err", err)
	}
}
