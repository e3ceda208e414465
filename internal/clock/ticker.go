package clock

import (
	"sync"
	"time"

	"github.com/loaxa/loaxa/internal/timerfd"
)

// fdTicker is a Ticker on a Linux timerfd. A Go ticker wakes the process
// twice per tick, and the runtime's monitor thread too: the runtime's
// poller sleeps whole milliseconds, rounded down, then 1 ms more, and the
// monitor sleeps until the next timer (see package timerfd). The agent's
// 200 ms input poll runs on every pole all the time, so that was 10
// wake-ups a second of an idle pole's 22. A timerfd wakes the goroutine
// waiting on it once, at the nanosecond. The goroutine (run) is the
// ticker's own: Stop ends it.
type fdTicker struct {
	t    *timerfd.Timer
	c    chan time.Time
	done chan struct{} // closed when run has returned
	// mu orders run's sends after Reset's drain; gen counts the Resets,
	// so that an expiry of the period before one is not sent after it.
	mu  sync.Mutex
	gen uint64
}

func newFDTicker(d time.Duration) (*fdTicker, error) {
	t, err := timerfd.New()
	if err != nil {
		return nil, err
	}
	if err := t.Every(d); err != nil {
		t.Close()
		return nil, err
	}
	k := &fdTicker{t: t, c: make(chan time.Time, 1), done: make(chan struct{})}
	go k.run()
	return k, nil
}

// run sends a tick for every expiry; like time.Ticker's, a tick the
// reader has not taken yet makes the next one be dropped.
func (k *fdTicker) run() {
	defer close(k.done)
	for {
		k.mu.Lock()
		gen := k.gen
		k.mu.Unlock()
		if k.t.Wait() != nil {
			return
		}
		k.mu.Lock()
		if k.gen == gen {
			select {
			case k.c <- time.Now():
			default:
			}
		}
		k.mu.Unlock()
	}
}

func (k *fdTicker) C() <-chan time.Time { return k.c }

// Stop ends the ticks, and the goroutine, and drops a tick not taken:
// none comes after Stop returns. Calling it again does nothing.
func (k *fdTicker) Stop() {
	k.t.Close()
	<-k.done
	select {
	case <-k.c:
	default:
	}
}

// Reset makes the ticks come every d from now, and drops a tick not
// taken: as with time.Ticker, none from before Reset comes after it. On a
// stopped ticker it does nothing.
func (k *fdTicker) Reset(d time.Duration) {
	if d <= 0 {
		panic("clock: non-positive interval for Ticker.Reset")
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.gen++
	k.t.Every(d)
	select {
	case <-k.c:
	default:
	}
}
