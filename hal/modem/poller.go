package modem

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/loaxa/loaxa/hal"
	"github.com/loaxa/loaxa/internal/backoff"
	"github.com/loaxa/loaxa/internal/clock"
)

// Defaults of PollerOptions.
const (
	DefaultPollInterval = 30 * time.Second
	DefaultReadTimeout  = 60 * time.Second
	DefaultRadioOffFor  = 5 * time.Second
)

// PollerOptions configure a Poller. The zero value is usable.
type PollerOptions struct {
	// Interval between readings; 0 means DefaultPollInterval.
	Interval time.Duration
	// ReadTimeout bounds one reading (or action) as a whole, on top of
	// the modem's per-command timeouts; 0 means DefaultReadTimeout.
	ReadTimeout time.Duration
	// RetryMin is the first delay before reading again after a failed
	// reading; the delay doubles (with full jitter) up to Interval. 0
	// means Interval/8.
	RetryMin time.Duration
	// RadioOffFor is how long ActionRadioCycle leaves the radio off; 0
	// means DefaultRadioOffFor.
	RadioOffFor time.Duration
	// Clock paces the poller; nil means the real clock.
	Clock clock.Clock
	// Logger; nil discards.
	Logger *slog.Logger
	// Rand is the backoff's jitter source; nil means math/rand/v2.
	Rand func(n int64) int64
}

// Sample is one reading and when it was taken.
type Sample struct {
	Time    time.Time
	Reading hal.ModemReading
	// Err is the reading's error: nil, or one wrapping ErrTimeout,
	// ErrClosed, ErrPortMissing, hal.ErrAbsent, ... (see hal.Modem.Read).
	Err error
}

// Action is something the poller does with the modem on request.
type Action int

// Actions.
const (
	// ActionReadNow takes a reading at once instead of at the next tick.
	ActionReadNow Action = iota + 1
	// ActionRadioCycle switches the radio off, waits RadioOffFor, and
	// switches it on again (the watchdog's second step).
	ActionRadioCycle
	// ActionReset restarts the modem (AT+CFUN=1,1).
	ActionReset
)

func (a Action) String() string {
	switch a {
	case ActionReadNow:
		return "read_now"
	case ActionRadioCycle:
		return "radio_cycle"
	case ActionReset:
		return "modem_reset"
	}
	return fmt.Sprintf("action(%d)", int(a))
}

// ActionResult says how a requested action went.
type ActionResult struct {
	Action Action
	Time   time.Time
	Err    error
}

// Poller reads a modem on its own interval in its own goroutine and hands
// the readings out, so that the agent never waits on the modem: Readings
// holds only the latest sample (an unread one is replaced), and Do queues
// an action without blocking. The poller is the modem's only user while
// it runs.
type Poller struct {
	m        hal.Modem
	o        PollerOptions
	log      *slog.Logger
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	once     sync.Once
	readings chan Sample
	results  chan ActionResult
	actions  chan Action

	mu     sync.Mutex // guards latest and dropped
	latest *Sample
	// dropped counts action results nobody read in time.
	dropped int
}

// StartPoller starts polling m until ctx ends or Close is called. The first
// reading is taken at once.
func StartPoller(ctx context.Context, m hal.Modem, o PollerOptions) *Poller {
	if o.Interval <= 0 {
		o.Interval = DefaultPollInterval
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = DefaultReadTimeout
	}
	if o.RetryMin <= 0 {
		o.RetryMin = o.Interval / 8
	}
	if o.RadioOffFor <= 0 {
		o.RadioOffFor = DefaultRadioOffFor
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(ctx)
	p := &Poller{
		m: m, o: o, log: log, cancel: cancel,
		readings: make(chan Sample, 1),
		results:  make(chan ActionResult, 8),
		actions:  make(chan Action, 4),
	}
	p.wg.Add(1)
	go p.run(ctx)
	return p
}

// Readings delivers samples; only the latest waits, so a slow reader sees
// the newest one and the poller never blocks on it.
func (p *Poller) Readings() <-chan Sample { return p.readings }

// Results delivers the outcome of each action requested with Do (except
// ActionReadNow, whose outcome is the next sample). Up to 8 wait; more are
// dropped and logged.
func (p *Poller) Results() <-chan ActionResult { return p.results }

// Latest returns the last sample, if any was taken.
func (p *Poller) Latest() (Sample, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.latest == nil {
		return Sample{}, false
	}
	return *p.latest, true
}

// Do asks the poller to carry out a; it returns false without waiting when
// four actions already wait or the poller stopped.
func (p *Poller) Do(a Action) bool {
	select {
	case p.actions <- a:
		return true
	default:
		return false
	}
}

// Close stops the poller and waits for its goroutine; it does not halt the
// modem. Safe to call more than once.
func (p *Poller) Close() error {
	p.once.Do(func() {
		p.cancel()
		p.wg.Wait()
	})
	return nil
}

func (p *Poller) run(ctx context.Context) {
	defer p.wg.Done()
	bo := backoff.New(p.o.RetryMin, p.o.Interval, p.o.Clock, p.o.Rand)
	var t clock.Timer
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	for {
		s := p.read(ctx)
		if ctx.Err() != nil {
			return
		}
		p.publish(s)
		wait := p.o.Interval
		if s.Err != nil && !errors.Is(s.Err, hal.ErrAbsent) {
			wait = bo.Next() // come back sooner: the modem may be resetting
		} else {
			bo.Reset()
		}
		if t == nil {
			t = p.o.Clock.NewTimer(wait)
		} else {
			t.Stop()
			t.Reset(wait)
		}
		select {
		case <-ctx.Done():
			return
		case a := <-p.actions:
			if a != ActionReadNow {
				p.act(ctx, a)
			}
		case <-t.C():
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// bounded returns a context that ends after ReadTimeout of the poller's
// clock (a context deadline would follow the wall clock, not a fake one).
func (p *Poller) bounded(ctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	t := p.o.Clock.NewTimer(p.o.ReadTimeout)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-t.C():
			cancel()
		case <-stop:
		}
	}()
	return ctx, func() {
		close(stop)
		wg.Wait()
		t.Stop()
		cancel()
	}
}

func (p *Poller) read(ctx context.Context) Sample {
	rctx, done := p.bounded(ctx)
	defer done()
	r, err := p.m.Read(rctx)
	if err != nil {
		if errors.Is(err, context.Canceled) && ctx.Err() == nil {
			err = fmt.Errorf("modem reading took longer than %v: %w", p.o.ReadTimeout, ErrTimeout)
		}
		p.log.Debug("modem reading failed", "modem", p.m.String(), "err", err)
	}
	return Sample{Time: p.o.Clock.Now(), Reading: r, Err: err}
}

func (p *Poller) publish(s Sample) {
	p.mu.Lock()
	p.latest = &s
	p.mu.Unlock()
	select {
	case p.readings <- s:
		return
	default:
	}
	// Replace the unread sample; the poller is the only sender, so the
	// second send finds room unless a reader just took the old one, and
	// then there is room anyway.
	select {
	case <-p.readings:
	default:
	}
	select {
	case p.readings <- s:
	default:
	}
}

func (p *Poller) act(ctx context.Context, a Action) {
	actx, done := p.bounded(ctx)
	var err error
	switch a {
	case ActionRadioCycle:
		err = p.m.RadioOff(actx)
		if err == nil {
			t := p.o.Clock.NewTimer(p.o.RadioOffFor)
			select {
			case <-t.C():
			case <-actx.Done():
			}
			t.Stop()
		}
		// On whatever happened, try to leave the radio on.
		if onErr := p.m.RadioOn(actx); err == nil {
			err = onErr
		}
	case ActionReset:
		err = p.m.Reset(actx)
	default:
		err = fmt.Errorf("modem: unknown action %v", a)
	}
	done()
	if ctx.Err() != nil {
		return
	}
	res := ActionResult{Action: a, Time: p.o.Clock.Now(), Err: err}
	if err != nil {
		p.log.Warn("modem action failed", "action", a.String(), "err", err)
	} else {
		p.log.Info("modem action done", "action", a.String())
	}
	select {
	case p.results <- res:
	default:
		p.mu.Lock()
		p.dropped++
		p.mu.Unlock()
		p.log.Warn("modem action result dropped: nobody reads Results", "action", a.String())
	}
}
