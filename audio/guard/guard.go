package guard

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/internal/backoff"
)

// ErrFailed is wrapped by the errors of a Sink whose device failed: a call
// did not return within its deadline or returned an error. The Sink is
// reopening the device (see Sink.Status).
var ErrFailed = errors.New("audio device failed")

// ErrClosed is returned by a Sink used after Close.
var ErrClosed = errors.New("audio device: closed")

// Sink is an audio.Sink whose device calls have deadlines. Build it with
// Open.
type Sink struct {
	o    Options
	f    audio.Format
	name string
	// wake tells the reopen goroutine that something changed: the device
	// failed, an abandoned call came back, or the Sink is closing.
	wake chan struct{}
	stop chan struct{} // closed by Close
	wg   sync.WaitGroup

	// mu guards what the caller's goroutine (Write, Drain, Close), the
	// reopen goroutine and abandoned workers coming back all change.
	mu        sync.Mutex
	cur       *device   // nil while the device is failed
	dropped   []*device // failed devices not yet closed
	failErr   error
	cause     error         // what failed the device, before any reopening
	changed   chan struct{} // closed when failErr changes
	abandoned int           // calls stuck in the driver now
	stuckOpen bool          // one of them is an Open
	failures  int
	underruns int // of the devices already dropped
	closed    bool
}

var _ audio.Sink = (*Sink)(nil)

// Open opens the device with o.Open, within o.OpenTimeout, and returns a
// Sink on it. The error of a failed first Open is returned as it is (it
// may wrap hal.ErrAbsent); an Open that does not return in time is
// abandoned and reported as failed.
func Open(o Options) (*Sink, error) {
	if o.Open == nil {
		return nil, errors.New("guard: Options.Open is required")
	}
	s := &Sink{
		o:       o.withDefaults(),
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		changed: make(chan struct{}),
	}
	d, err := s.open()
	if err != nil {
		return nil, err
	}
	s.f, s.name = d.sink.Format(), d.sink.String()
	if !s.f.Valid() {
		s.closeDevice(d)
		return nil, fmt.Errorf("guard: the device %s has an unusable format %v", s.name, s.f)
	}
	s.cur = d
	s.wg.Add(1)
	go s.reopen()
	return s, nil
}

// String names the device, as its first sink did.
func (s *Sink) String() string { return s.name }

// Format is the device's format; it does not change.
func (s *Sink) Format() audio.Format { return s.f }

// Write plays p on the device. It fails at once, with an error wrapping
// ErrFailed, while the device is failed; a write that does not return
// within its deadline is abandoned and fails the device.
func (s *Sink) Write(p []int16) error {
	if len(p)%s.f.Channels != 0 {
		return fmt.Errorf("guard: %d samples is not a whole number of %d-channel frames", len(p), s.f.Channels)
	}
	d, err := s.current()
	if d == nil {
		return err
	}
	// The worker gets a copy: an abandoned write may still be reading it
	// when the caller fills its buffer again.
	if cap(d.buf) < len(p) {
		d.buf = make([]int16, len(p))
	}
	b := d.buf[:len(p)]
	copy(b, p)
	dl := s.deadline(d, len(p))
	err, stuck := s.call(d, op{kind: opWrite, p: b}, dl)
	switch {
	case stuck:
		return s.stuck(d, "a write", dl)
	case err != nil:
		return s.failed(d, fmt.Errorf("writing: %w", err))
	}
	return nil
}

// Drain lets the device play out what it holds, when the device can (it
// has a Drain method), within a deadline.
func (s *Sink) Drain() error {
	d, err := s.current()
	if d == nil {
		return err
	}
	if _, ok := d.sink.(drainer); !ok {
		return nil
	}
	dl := s.bufferDeadline(d)
	err, stuck := s.call(d, op{kind: opDrain}, dl)
	switch {
	case stuck:
		return s.stuck(d, "a drain", dl)
	case err != nil:
		return s.failed(d, fmt.Errorf("draining: %w", err))
	}
	return nil
}

// Close stops reopening and closes the device, within a deadline. Calls
// stuck in the driver stay abandoned. Calling it again does nothing.
func (s *Sink) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	d := s.cur
	s.cur = nil
	s.mu.Unlock()
	close(s.stop)
	s.wg.Wait()
	s.closeDropped()
	if d != nil {
		return s.closeDevice(d)
	}
	return nil
}

// Status is the health of a Sink's device.
type Status struct {
	// Err says why the device is failed; nil while it works.
	Err error
	// Failures counts the times the device was declared failed, so that
	// a watcher that looks late still learns of a failure that was
	// already cured; Last is the latest of them (nil before the first).
	Failures int
	Last     error
}

// Status returns the device's health and a channel closed at its next
// change.
func (s *Sink) Status() (Status, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Status{Err: s.failErr, Failures: s.failures, Last: s.cause}, s.changed
}

// Abandoned returns how many device calls are stuck in the driver now.
func (s *Sink) Abandoned() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.abandoned
}

// Failures returns how many times the device was declared failed.
func (s *Sink) Failures() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failures
}

// Underruns adds up the underruns of every device this Sink has used,
// when they count them.
func (s *Sink) Underruns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.underruns
	if s.cur != nil {
		n += underrunsOf(s.cur.sink)
	}
	return n
}

// Latency is the device's output latency: Options.Buffer, or what the
// current device reports.
func (s *Sink) Latency() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.o.Buffer > 0 || s.cur == nil {
		return s.o.Buffer
	}
	return s.cur.latency
}

// current returns the working device, or nil and why there is none.
func (s *Sink) current() (*device, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("%w: %s", ErrClosed, s.name)
	}
	return s.cur, s.failErr
}

// deadline is how long a write of n samples may take.
func (s *Sink) deadline(d *device, n int) time.Duration {
	block := time.Duration(n/s.f.Channels) * time.Second / time.Duration(s.f.Rate)
	return max(s.bufferDeadline(d), deadlineBlocks*block)
}

// bufferDeadline is how long a call that plays out the buffer may take.
func (s *Sink) bufferDeadline(d *device) time.Duration {
	buf := s.o.Buffer
	if buf <= 0 {
		buf = d.latency
	}
	return max(s.o.MinDeadline, deadlineBuffers*buf)
}

// failed declares d failed because a call returned err, and hands it to
// the reopen goroutine to close. It returns the error the caller reports.
func (s *Sink) failed(d *device, err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != d {
		return s.failErr
	}
	err = fmt.Errorf("%w: %s: %w", ErrFailed, s.name, err)
	s.o.Log.Error("audio device failed; reopening it", "device", s.name, "err", err)
	s.drop(d, err)
	s.dropped = append(s.dropped, d)
	s.poke()
	return err
}

// stuck declares d failed because a call did not return within dl, and
// abandons the call.
func (s *Sink) stuck(d *device, what string, dl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := fmt.Errorf("%w: %s: %s did not return within %v: the device is stuck", ErrFailed, s.name, what, dl)
	if s.cur == d {
		s.o.Log.Error("audio device stuck; reopening it", "device", s.name, "err", err)
		s.drop(d, err)
	}
	s.abandon(d, what)
	s.poke()
	return s.failErr
}

// drop takes d out of service; s.mu is held.
func (s *Sink) drop(d *device, err error) {
	s.cur = nil
	s.underruns += underrunsOf(d.sink)
	s.failures++
	s.cause = err
	s.failErr = nil // a new failure is news even with the same text
	s.setFail(err)
}

// reopenFailed adds why the last attempt to reopen failed to the health,
// so that the alarm says what stands in the way (a driver that cannot
// open while a call is stuck asks for a restart).
func (s *Sink) reopenFailed(err error) {
	s.o.Log.Warn("audio device: reopening failed", "device", s.name, "err", err)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil || s.cause == nil || s.abandoned >= s.o.MaxAbandoned {
		return
	}
	s.setFail(fmt.Errorf("%w; reopening it failed: %v", s.cause, err))
}

// abandon gives up on d, whose call what is stuck in the driver; s.mu is
// held. Its worker closes the device and tells released if the call ever
// returns. It reports false when the call had in fact just returned.
func (s *Sink) abandon(d *device, what string) bool {
	if !d.abandon() {
		return false
	}
	s.abandoned++
	s.o.Log.Warn("audio device call abandoned: a call stuck in the driver cannot be cancelled, so its goroutine stays blocked until the driver returns",
		"device", s.name, "call", what, "stuck", s.abandoned, "max", s.o.MaxAbandoned)
	s.checkGiveUp()
	return true
}

// checkGiveUp stops the reopening once MaxAbandoned calls are stuck;
// s.mu is held.
func (s *Sink) checkGiveUp() {
	if s.abandoned < s.o.MaxAbandoned || s.cur != nil {
		return
	}
	err := fmt.Errorf("%w: %s: %d calls are stuck in the audio driver and cannot be cancelled; the device is not reopened any more: restart the agent", ErrFailed, s.name, s.abandoned)
	s.o.Log.Error("audio device given up", "device", s.name, "err", err)
	s.setFail(err)
}

// released is called by an abandoned call that finally returned.
func (s *Sink) released(what string) {
	s.mu.Lock()
	s.abandoned--
	if what == "an open" {
		s.stuckOpen = false
	}
	n := s.abandoned
	s.mu.Unlock()
	s.o.Log.Info("an abandoned audio device call returned", "device", s.name, "call", what, "stuck", n)
	s.poke()
}

// setFail changes the health; s.mu is held.
func (s *Sink) setFail(err error) {
	if errText(err) == errText(s.failErr) {
		return
	}
	s.failErr = err
	close(s.changed)
	s.changed = make(chan struct{})
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// poke wakes the reopen goroutine.
func (s *Sink) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// reopen is the goroutine that closes failed devices and opens the device
// again, with backoff, until Close.
func (s *Sink) reopen() {
	defer s.wg.Done()
	bo := backoff.New(s.o.BackoffBase, s.o.BackoffMax, s.o.Clock, s.o.Rand)
	for {
		s.closeDropped()
		s.mu.Lock()
		need := s.cur == nil && !s.closed && !s.stuckOpen && s.abandoned < s.o.MaxAbandoned
		s.mu.Unlock()
		if !need {
			select {
			case <-s.stop:
				return
			case <-s.wake:
			}
			continue
		}
		t := s.o.Clock.NewTimer(bo.Next())
		select {
		case <-s.stop:
			t.Stop()
			return
		case <-t.C():
		}
		d, err := s.open()
		if err == nil {
			err = s.probe(d)
		}
		if err != nil {
			s.reopenFailed(err)
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			s.closeDevice(d)
			return
		}
		s.cur = d
		s.setFail(nil)
		s.mu.Unlock()
		bo.Reset()
		s.o.Log.Info("audio device works again", "device", s.name)
	}
}

// probe checks that a reopened device plays: a block of silence written
// and drained, each within its deadline. A device that fails it is closed.
func (s *Sink) probe(d *device) error {
	if d.sink.Format() != s.f {
		s.closeDevice(d)
		return fmt.Errorf("the reopened device plays %v, not %v", d.sink.Format(), s.f)
	}
	d.buf = make([]int16, s.f.Rate/100*s.f.Channels)
	dl := s.deadline(d, len(d.buf))
	err, stuck := s.call(d, op{kind: opWrite, p: d.buf}, dl)
	if !stuck && err == nil {
		if _, ok := d.sink.(drainer); ok {
			dl = s.bufferDeadline(d)
			err, stuck = s.call(d, op{kind: opDrain}, dl)
		}
	}
	if stuck {
		s.mu.Lock()
		s.abandon(d, "a test write")
		s.mu.Unlock()
		return fmt.Errorf("a test write did not return within %v", dl)
	}
	if err != nil {
		s.closeDevice(d)
		return fmt.Errorf("a test write: %w", err)
	}
	return nil
}

// open calls Options.Open within OpenTimeout and starts the device's
// worker. An Open that does not return in time is abandoned: if it ever
// returns a sink, that sink is closed.
func (s *Sink) open() (*device, error) {
	type result struct {
		sink audio.Sink
		err  error
	}
	got := make(chan result)
	gaveUp := make(chan struct{})
	go func() {
		sink, err := s.o.Open()
		select {
		case got <- result{sink, err}:
		case <-gaveUp:
			if sink != nil {
				sink.Close()
			}
			s.released("an open")
		}
	}()
	t := s.o.Clock.NewTimer(s.o.OpenTimeout)
	defer t.Stop()
	select {
	case r := <-got:
		if r.err != nil {
			return nil, r.err
		}
		return newDevice(r.sink, s.released), nil
	case <-t.C():
		close(gaveUp)
		s.mu.Lock()
		s.stuckOpen = true
		s.abandoned++
		s.o.Log.Warn("audio device call abandoned: an open stuck in the driver cannot be cancelled, so its goroutine stays blocked until the driver returns",
			"device", s.name, "stuck", s.abandoned, "max", s.o.MaxAbandoned)
		s.checkGiveUp()
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: opening the device did not return within %v", ErrFailed, s.o.OpenTimeout)
	}
}

// closeDropped closes the devices that failed with an error.
func (s *Sink) closeDropped() {
	s.mu.Lock()
	ds := s.dropped
	s.dropped = nil
	s.mu.Unlock()
	for _, d := range ds {
		if err := s.closeDevice(d); err != nil {
			s.o.Log.Warn("audio device: closing the failed device", "device", s.name, "err", err)
		}
	}
}

// closeDevice closes d within a deadline, abandoning a close that hangs.
func (s *Sink) closeDevice(d *device) error {
	dl := s.bufferDeadline(d)
	err, stuck := s.call(d, op{kind: opClose}, dl)
	if stuck {
		s.mu.Lock()
		gone := s.abandon(d, "a close")
		s.mu.Unlock()
		if gone {
			return fmt.Errorf("%w: %s: closing did not return within %v", ErrFailed, s.name, dl)
		}
		err = <-d.res
	}
	<-d.done
	return err
}

// call runs o on d's worker and waits for it at most dl; stuck is true
// when it did not return in time (the caller then abandons d).
func (s *Sink) call(d *device, o op, dl time.Duration) (err error, stuck bool) {
	d.ops <- o
	// A device's calls come one at a time (each waits for its result or
	// abandons the device), so they share its timer; a stopped timer
	// delivers nothing stale after Reset.
	if d.timer == nil {
		d.timer = s.o.Clock.NewTimer(dl)
	} else {
		d.timer.Reset(dl)
	}
	t := d.timer
	defer t.Stop()
	select {
	case err := <-d.res:
		return err, false
	case <-t.C():
		return nil, true
	}
}

type drainer interface{ Drain() error }

func underrunsOf(sink audio.Sink) int {
	if u, ok := sink.(interface{ Underruns() int }); ok {
		return max(0, u.Underruns())
	}
	return 0
}
