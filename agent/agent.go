package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"sync"
	"time"

	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/audio/media"

	"github.com/loaxa/loaxa/agent/ladder"

	"github.com/loaxa/loaxa/internal/redact"

	"github.com/loaxa/loaxa/agent/config"
	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/audio/player"
	"github.com/loaxa/loaxa/hal"
	"github.com/loaxa/loaxa/internal/clock"
)

// ErrRestart is returned by Run when the operator asked for a restart; the
// caller re-executes the agent.
var ErrRestart = errors.New("agent: restart requested")

// Options wire an Agent to its surroundings.
type Options struct {
	Config *config.Config
	// ConfigPath is where config.set saves the configuration.
	ConfigPath string
	Hardware   *hal.Hardware
	// Missing names the hardware parts that are absent or failed at start
	// (e.g. "zones": "GPIO17 not present"); the agent runs degraded and
	// reports them in its state and alarms.
	Missing map[string]string
	Clock   clock.Clock
	Log     *slog.Logger
	Version string
	// Notify receives systemd notifications ("READY=1", "WATCHDOG=1",
	// "STOPPING=1"); nil when not under systemd.
	Notify func(state string)
	// SetLogLevel applies a log_level change from config.set; may be nil.
	SetLogLevel func(level string)
	// Link is the MQTT link; nil builds one from Config.
	Link *Link
	// ProcRoot is where /proc and /sys are read for telemetry ("" = "/").
	ProcRoot string
	// Player feeds the audio output; nil when the pole has none (play and
	// stop then answer unsupported). Run runs it.
	Player Player
	// OpenSource opens play sources (streams, media files, live channels,
	// tones) in the player's format.
	OpenSource SourceOpener
	// Live receives live-audio frames from MQTT; nil when live audio is
	// not available.
	Live LiveSink
	// Attach connects to the supervisor that started the agent (nil, nil
	// when none did); nil: supervisor.Attach, from the environment.
	Attach func() (SupervisorConn, error)
	// Modem is the 4G modem's AT port (hal/modem, or the emulated one of
	// --sim); nil when the pole has none. The agent polls it in its own
	// goroutine (telemetry, alarms, the watchdog's steps), and the
	// console's `test modem` reads it; the caller halts it after Run.
	Modem hal.Modem
	// ModemPower is the relay that cuts the modem's supply when energised
	// (hardware.modem_power); nil when not wired.
	ModemPower hal.Output
	// Pinned are configuration keys set on the command line ("id",
	// "mqtt.broker"), which override the file at every start: provisioning
	// refuses other values for them, which the restart would undo.
	Pinned map[string]string
	// Device reports the health of the audio output device (audio/guard);
	// nil when nothing watches it. See agent/device.go.
	Device DeviceHealth
}

// Player feeds the audio output (audio/player.Player on a pole): the
// agent hands it items and fades, and it reports what it did on Events.
type Player interface {
	Format() audio.Format
	Events() <-chan player.Event
	Run(ctx context.Context) error
	Play(it player.Item)
	Stop(id string, fade time.Duration)
	Mute(fade time.Duration)
	Unmute(fade time.Duration)
	SetGain(g float64)
	KeepAlive(on bool)
	// Level is the RMS level of the last block written, in dBFS.
	Level() float64
	// Underruns counts the gaps a listener heard.
	Underruns() uint64
}

// LiveSink takes live-audio frames as they arrive from MQTT. Deliver is
// called from the MQTT client's goroutine and must not block.
type LiveSink interface {
	Deliver(channel string, payload []byte, at time.Time)
}

// Agent is one pole receiver. Build it with New, run it with Run.
type Agent struct {
	opts Options
	// cfg is the configuration in force; saved is what the file holds,
	// which differs until a restart applies keys that need one.
	cfg     *config.Config
	saved   *config.Config
	hw      *hal.Hardware
	clk     clock.Clock
	log     *slog.Logger
	link    *Link
	topics  wire.Topics
	started time.Time

	// Everything below is owned by the Run goroutine.
	zones    map[string]bool
	volume   int
	answers  *answers
	limiter  limiter
	store    *store
	fb       fallback
	sch      sched
	media    *media.Fetcher
	logIdx   logIndex
	onAir    *wire.LogRecord // the run on the output, as the log will record it
	restored persisted       // the state last saved
	waiting  waitingRecs     // the queue's records, as last saved
	alarms   map[string]wire.Alarm
	// storageFaults are the causes of the storage alarm (storagealarm.go).
	storageFaults map[string]string
	inputs        map[string]bool
	debounce      map[string]int
	cmdKey        []byte
	restart       bool
	player        Player
	afterAck      func() // runs once the current command's ack is queued
	teleTicker    clock.Ticker

	// The audio output: the ladder's queue of waiting items, the sequencer
	// of the item on air, their timers, and sources' reports.
	queue               *ladder.Queue
	seq                 *ladder.Sequencer
	seqTimer, holdTimer clock.Timer
	seqC, holdC         <-chan time.Time
	notes               *noteQueue

	// calls carries work other goroutines hand to the Run goroutine (a
	// modem reading, a console command, an updater's report): they send
	// it messages rather than share its memory. See Do.
	calls chan func()
	// live are the sources of live items, opened when accepted; clock is
	// the last reading of the clock's synchronisation (live.go).
	live  map[string]*liveOpen
	clock clockState
	// starters start the agent's parts' goroutines when Run starts (each
	// registered by the part's setup in New); they end with Run's context.
	starters []func(ctx context.Context, wg *sync.WaitGroup)
	// done is closed when Run returns.
	done chan struct{}
	// ota is the over-the-air updater's part (agent/ota.go).
	ota *otaPart
	// runCtx ends when Run does; bg waits for the one-off background tasks
	// (background) before Run returns.
	runCtx context.Context
	bg     sync.WaitGroup
	// console is the technician console's view of the agent (console.go).
	console *consoleBackend

	closeOnce sync.Once

	// The modem, the board's health and the connectivity watchdog
	// (modem.go, health.go, watchdog.go); owned by Run.
	modem  modemPart
	health healthState
	wd     wdState
	wdWork *wdWorker
}

// New loads the persisted state and applies the power-on policy to the
// relays: each output is driven once, straight to its start level.
func New(opts Options) (*Agent, error) {
	if opts.Config == nil || opts.Hardware == nil {
		return nil, errors.New("agent: Config and Hardware are required")
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.ProcRoot == "" {
		opts.ProcRoot = "/"
	}
	cfg := opts.Config
	if !wire.ValidID(cfg.ID) {
		return nil, fmt.Errorf("key id: %q is not a device id (3-64 chars of a-z, 0-9, '-'); set it in the config or with --id", cfg.ID)
	}
	a := &Agent{
		opts:     opts,
		cfg:      cfg,
		saved:    cfg,
		hw:       opts.Hardware,
		clk:      opts.Clock,
		log:      opts.Log,
		topics:   wire.Topics{Root: cfg.TopicRoot, ID: cfg.ID},
		zones:    map[string]bool{},
		alarms:   map[string]wire.Alarm{},
		inputs:   map[string]bool{},
		debounce: map[string]int{},
	}
	a.started = a.clk.Now()
	a.player = opts.Player
	a.notes = newNoteQueue()
	a.calls = make(chan func(), 64)
	a.done = make(chan struct{})
	a.answers = newAnswers()
	a.setupConsole()
	st, ans, warns, err := a.openStore()
	var durable Durable
	if a.store != nil {
		durable = a.store.outbox
	}
	a.link = opts.Link
	if a.link == nil {
		lc := LinkConfigFrom(cfg, opts.Version)
		if opts.Live != nil {
			lc.OnLive = opts.Live.Deliver
		}
		a.link = NewLink(lc, a.clk, a.log, durable)
	}
	if a.store != nil {
		// What the last run could not deliver goes first.
		if err := a.store.outbox.Scan(func(seq uint64, rec []byte) error { return a.link.out.load(seq, rec) }); err != nil {
			a.log.Error("outbox: reading what the last run left", "err", err)
		}
	}
	for _, e := range ans {
		a.answers.put(e)
	}
	a.loadLogIndex()
	a.applyAuth()
	if err != nil {
		a.log.Error("storage", "data_dir", cfg.DataDir, "err", err)
		a.storageFault(storageDataDir, fmt.Sprintf("the data directory %s cannot be used (%v): nothing can be saved, commands that change something are refused", cfg.DataDir, err))
	}
	for _, w := range warns {
		a.log.Error("state", "err", w)
		a.raise("state_reset", w.Error())
	}
	a.volume = st.Volume
	a.restored = st
	a.setupMedia()
	a.setupSchedule(st.Schedule)
	a.closeCutRun(st.OnAir)
	a.closeWaiting(st.Waiting)
	for part, why := range opts.Missing {
		a.raise("hardware", part+": "+why)
	}
	// Amplifier first: it must never be powered while zones switch.
	if a.hw.Amp != nil {
		if err := a.hw.Amp.Set(false); err != nil {
			a.raise("hardware", fmt.Sprintf("amp %s: %v", a.hw.Amp, err))
		}
	}
	for _, z := range cfg.ZoneNames() {
		on := cfg.PowerOn == "restore" && st.Zones[z]
		if err := a.setZone(z, on); err != nil {
			a.raise("hardware", err.Error())
		}
		a.zones[z] = on
	}
	a.setupDevice()
	a.setupLive()
	a.queue = ladder.NewQueue(cfg.Audio.QueueMax)
	a.seq = ladder.NewSequencer(a.timings(), a.zones, a.zones)
	a.readInputs(true)
	if opts.ModemPower != nil {
		// Released is powered: a power cycle cut short by a crash must not
		// leave the modem off.
		if err := opts.ModemPower.Set(false); err != nil {
			a.raise("hardware", fmt.Sprintf("modem power %s: %v", opts.ModemPower, err))
		}
	}
	a.setupHealth()
	a.setupModem()
	if err := a.setupWatchdog(); err != nil {
		a.Close()
		return nil, err
	}
	if a.store != nil && !maps.Equal(a.zones, st.Zones) {
		// The power-on policy changed what was saved.
		if err := a.persist(); err != nil {
			a.log.Error("cannot save state", "err", err)
		}
	}
	a.setupOTA()
	return a, nil
}

// openStore opens DATA_DIR's journals; a failure leaves the agent running
// without storage (it says so) rather than not at all.
func (a *Agent) openStore() (persisted, []*answer, []error, error) {
	if err := os.MkdirAll(a.cfg.DataDir, 0o755); err != nil {
		return persisted{Zones: map[string]bool{}, Volume: defaultVolume}, nil, nil, err
	}
	s, st, ans, warns, err := openStore(a.cfg.DataDir, a.clk, a.log)
	if err != nil {
		return st, nil, nil, err
	}
	a.store = s
	return st, ans, warns, nil
}

// Close releases what New opened (the journals) when Run is never called;
// Run closes them itself. Safe to call more than once.
func (a *Agent) Close() error {
	a.closeOTA()
	if a.media != nil {
		a.media.Close()
	}
	if a.store == nil {
		return nil
	}
	return a.store.close()
}

func (a *Agent) applyAuth() {
	a.cmdKey = nil
	if a.cfg.Auth.CommandKey != "" {
		a.cmdKey = mustHex(a.cfg.Auth.CommandKey)
	}
}

// Run serves until ctx ends (nil), a restart is requested (ErrRestart) or
// an installed release asks for the switch (ErrSwitch).
// It starts the MQTT link and waits for it before returning.
func (a *Agent) Run(ctx context.Context) error {
	linkCtx, cancelLink := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.link.Run(linkCtx)
	}()
	if a.store != nil {
		a.store.start()
	}
	partsCtx, cancelParts := context.WithCancel(context.WithoutCancel(ctx))
	a.runCtx = partsCtx
	for _, start := range a.starters {
		start(partsCtx, &wg)
	}
	defer func() {
		close(a.done)
		cancelParts()
		cancelLink()
		wg.Wait()
		a.bg.Wait()
		// Last: the link has delivered what it could; what it could not
		// stays in the outbox for the next run.
		if err := a.Close(); err != nil {
			a.log.Error("storage: closing", "err", err)
		}
	}()
	var playerEvents <-chan player.Event
	if a.player != nil {
		playerCtx, cancelPlayer := context.WithCancel(context.WithoutCancel(ctx))
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.player.Run(playerCtx)
		}()
		defer cancelPlayer()
		playerEvents = a.player.Events()
	}

	a.teleTicker = a.clk.NewTicker(time.Duration(a.cfg.TeleInterval) * time.Second)
	defer a.teleTicker.Stop()
	// No inputs wired (or no GPIO at all): nothing to poll, and no
	// wake-up five times a second for it.
	var inputTick <-chan time.Time
	if len(a.hw.Inputs) > 0 {
		inputs := a.clk.NewTicker(inputPoll)
		defer inputs.Stop()
		inputTick = inputs.C()
	}
	watchdog := a.clk.NewTicker(10 * time.Second)
	defer watchdog.Stop()

	a.startFallback()
	a.startWatchdog()
	a.scheduleDecide()
	a.refreshMedia()
	a.notify("READY=1")
	a.event(wire.EventStarted, map[string]any{"version": a.opts.Version, "power_on": a.cfg.PowerOn, "zones": maps.Clone(a.zones)})
	a.publishState()
	a.log.Info("agent running", "id", a.cfg.ID, "zones", a.cfg.ZoneNames(), "broker", redact.URL(a.cfg.MQTT.Broker))
	for !a.restart {
		// While the outbox is backlogged the agent takes no new command:
		// they wait at the broker, unacknowledged, rather than have their
		// answers dropped (issue 7, finding 1).
		inbound := a.link.Inbound()
		if a.link.Backlogged() {
			inbound = nil
		}
		select {
		case <-ctx.Done():
			a.notify("STOPPING=1")
			a.shutdown("agent_stopped", playerEvents)
			return nil
		case in := <-inbound:
			a.handle(in)
		case <-a.link.Space():
		case ev := <-a.link.Events():
			a.linkEvent(ev)
		case <-a.teleTicker.C():
			a.publishTele()
		case <-inputTick:
			a.readInputs(false)
		case <-watchdog.C():
			a.notify("WATCHDOG=1")
		case ev := <-playerEvents:
			a.playerEvent(ev)
		case <-a.seqC:
			a.seqFired()
		case <-a.holdC:
			a.holdExpired()
		case <-a.notes.c:
			a.drainNotes()
		case f := <-a.calls:
			f()
		case <-a.fb.c:
			a.fallbackExpired()
		case <-a.wd.c:
			a.watchdogDue()
		case <-a.sch.c:
			a.scheduleDecide()
		case err := <-a.storeFailed():
			if err == nil {
				a.storageFault(storageSync, "")
				break
			}
			a.log.Error("storage: sync failed", "err", err)
			a.storageFault(storageSync, "cannot write to the data directory: "+err.Error())
		}
	}
	a.notify("STOPPING=1")
	a.shutdown("agent_restarted", playerEvents)
	return a.stopError()
}

// Do runs f on the Run goroutine, which owns the agent's state, and
// reports whether it was handed over: false when ctx ended or the agent
// has stopped. It waits while the agent is busy (back-pressure), so call it
// from a part's own goroutine, never from the Run goroutine.
func (a *Agent) Do(ctx context.Context, f func()) bool {
	select {
	case a.calls <- f:
		return true
	case <-ctx.Done():
		return false
	case <-a.done:
		return false
	}
}

// background runs a one-off task off the Run goroutine (a reboot command,
// say); it gets a context that ends with Run, and Run waits for it.
func (a *Agent) background(f func(ctx context.Context)) {
	ctx := a.runCtx
	if ctx == nil {
		ctx = context.Background() // not running (tests that drive by hand)
	}
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		f(ctx)
	}()
}

// addPart registers a part's goroutines, started when Run starts and
// stopped when it ends (before the link and the store close).
func (a *Agent) addPart(start func(ctx context.Context, wg *sync.WaitGroup)) {
	a.starters = append(a.starters, start)
}

// addPoller adds a part that calls poll every d on a goroutine of its own
// (so that poll may read a file or a device; it hands results to Run with
// Do), until the agent stops or poll returns false.
func (a *Agent) addPoller(d time.Duration, poll func(ctx context.Context) bool) {
	a.addPart(func(ctx context.Context, wg *sync.WaitGroup) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := a.clk.NewTicker(d)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C():
				}
				if !poll(ctx) {
					return
				}
			}
		}()
	})
}

// linkEvent follows the MQTT connection.
func (a *Agent) linkEvent(ev LinkEvent) {
	switch ev.Kind {
	case LinkUp:
		a.fallbackConnected()
		a.otaConnected()
		// The broker may have lost the retained documents (restart without
		// persistence): publish them again on every connect.
		a.publishState()
		a.publishTele()
		a.wdLinkUp()
	case LinkDown:
		a.wdLinkDown()
	case LinkFlapping:
		a.raise("mqtt.takeover", fmt.Sprintf("the broker dropped %d connections in a row right after they came up: is another client using the id %s? backing off", ev.Count, a.cfg.ID))
	case LinkStable:
		a.clear("mqtt.takeover")
	}
}

func (a *Agent) notify(s string) {
	if a.opts.Notify != nil {
		a.opts.Notify(s)
	}
}

func (a *Agent) setZone(name string, on bool) error {
	for _, o := range a.hw.Zones[name] {
		if err := o.Set(on); err != nil {
			return fmt.Errorf("zone %s relay %s: %w", name, o, err)
		}
	}
	return nil
}

// persist saves what must be restored at start (zones, volume); an error
// means it was not saved and the caller undoes its change.
func (a *Agent) persist() error {
	if a.store == nil {
		return errors.New("the data directory cannot be written (see the storage alarm)")
	}
	p := persisted{Zones: a.zones, Volume: a.volume, OnAir: a.onAir, Waiting: a.waiting.recs}
	if a.sch.tr != nil {
		st := a.sch.tr.State()
		p.Schedule = &st
	}
	if maps.Equal(p.Zones, a.restored.Zones) && p.Volume == a.restored.Volume && jsonSame(p.Schedule, a.restored.Schedule) && jsonSame(p.OnAir, a.restored.OnAir) && jsonSame(p.Waiting, a.restored.Waiting) {
		return nil // written only when it changes
	}
	if err := a.store.saveState(p); err != nil {
		a.storageFault(storageState, "cannot save the state: "+err.Error())
		return err
	}
	a.storageFault(storageState, "")
	a.restored = persisted{Zones: maps.Clone(p.Zones), Volume: p.Volume, Schedule: p.Schedule, OnAir: p.OnAir, Waiting: p.Waiting}
	return nil
}

// jsonSame reports whether two values encode alike.
func jsonSame(x, y any) bool {
	a, _ := json.Marshal(x)
	b, _ := json.Marshal(y)
	return bytes.Equal(a, b)
}

func (a *Agent) publishState() {
	a.noteWaiting()
	a.publish(a.topics.State(), 1, true, a.state())
}

func (a *Agent) publish(topic string, qos byte, retained bool, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		a.log.Error("cannot encode message", "topic", topic, "err", err)
		return
	}
	a.link.Publish(Message{Topic: topic, QoS: qos, Retained: retained, Payload: b})
}
