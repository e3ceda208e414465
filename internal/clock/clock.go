package clock

import "time"

// Clock tells the time and makes timers.
type Clock interface {
	Now() time.Time
	// NewTimer returns a timer that fires once after d.
	NewTimer(d time.Duration) Timer
	// NewTicker returns a ticker that fires every d.
	NewTicker(d time.Duration) Ticker
}

// Timer is the subset of *time.Timer the agent uses. Like Go's timers
// since 1.23 (go.mod's go line keeps that behaviour), a Timer delivers no
// value from before a Stop or a Reset once it returns, so one Timer can
// time call after call (audio/guard relies on it; Fake does the same).
type Timer interface {
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it was active.
	Stop() bool
	// Reset re-arms the timer to fire after d.
	Reset(d time.Duration)
}

// Ticker is the subset of *time.Ticker the agent uses.
type Ticker interface {
	C() <-chan time.Time
	Stop()
	Reset(d time.Duration)
}

// Real is the wall clock.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// NewTimer wraps time.NewTimer.
func (Real) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

// NewTicker wraps time.NewTicker.
func (Real) NewTicker(d time.Duration) Ticker { return realTicker{time.NewTicker(d)} }

// System is Real with tickers on a Linux timerfd (see fdTicker; a Go
// ticker where there is none): one wake-up per tick instead of two and
// the runtime's monitor thread's. It is the daemon's clock. Code run
// inside a testing/synctest bubble must use Real: a goroutine waiting on
// a timerfd is not durably blocked, so the bubble's clock never advances
// (the agent's synctest tests hung with System's tickers in Real).
type System struct{ Real }

// NewTicker returns a ticker on a timerfd, or time.NewTicker's where
// there is none. Like time.NewTicker, it panics if d is not positive.
func (System) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("clock: non-positive interval for NewTicker")
	}
	if t, err := newFDTicker(d); err == nil {
		return t
	}
	return realTicker{time.NewTicker(d)}
}

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time   { return r.t.C }
func (r realTimer) Stop() bool            { return r.t.Stop() }
func (r realTimer) Reset(d time.Duration) { r.t.Reset(d) }

type realTicker struct{ t *time.Ticker }

func (r realTicker) C() <-chan time.Time   { return r.t.C }
func (r realTicker) Stop()                 { r.t.Stop() }
func (r realTicker) Reset(d time.Duration) { r.t.Reset(d) }
