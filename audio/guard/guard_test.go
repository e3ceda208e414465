package guard

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/loaxa/loaxa/audio"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var format = audio.Format{Rate: 48000, Channels: 2}

// block is 10 ms of stereo at 48 kHz, what the player writes.
var block = make([]int16, 960)

// fakeDevice is a sink that works, fails, or hangs on demand, like a sound
// card that wedges: hangAt makes that write (from 1) block until release
// is closed.
type fakeDevice struct {
	name      string
	hangAt    int
	failAt    int
	hangAll   bool // every write hangs (a dead server)
	hangDrain bool
	release   chan struct{}

	mu        sync.Mutex
	writes    int
	samples   int
	drains    int
	closed    int
	underruns int
}

func (d *fakeDevice) String() string       { return d.name }
func (d *fakeDevice) Format() audio.Format { return format }
func (d *fakeDevice) Write(p []int16) error {
	d.mu.Lock()
	d.writes++
	n := d.writes
	hang := d.hangAll || n == d.hangAt
	d.mu.Unlock()
	if hang {
		<-d.release
	}
	if n == d.failAt {
		return errors.New("device unplugged")
	}
	d.mu.Lock()
	d.samples += len(p)
	d.mu.Unlock()
	return nil
}
func (d *fakeDevice) Drain() error {
	d.mu.Lock()
	d.drains++
	hang := d.hangDrain
	d.mu.Unlock()
	if hang {
		<-d.release
	}
	return nil
}
func (d *fakeDevice) Close() error {
	d.mu.Lock()
	d.closed++
	d.mu.Unlock()
	return nil
}
func (d *fakeDevice) Underruns() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.underruns
}
func (d *fakeDevice) Latency() time.Duration { return 40 * time.Millisecond }

func (d *fakeDevice) stats() (writes, samples, closed int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.writes, d.samples, d.closed
}

// opener hands out the devices in turn, then healthy ones.
type opener struct {
	mu      sync.Mutex
	devices []*fakeDevice
	opened  []*fakeDevice
	err     error // returned while set
}

func (o *opener) open() (audio.Sink, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return nil, o.err
	}
	var d *fakeDevice
	if len(o.devices) > 0 {
		d, o.devices = o.devices[0], o.devices[1:]
	} else {
		d = &fakeDevice{name: "card"}
	}
	o.opened = append(o.opened, d)
	return d, nil
}

func (o *opener) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.opened)
}

func (o *opener) get(i int) *fakeDevice {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.opened[i]
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func openGuard(t *testing.T, op *opener) *Sink {
	t.Helper()
	s, err := Open(Options{Open: op.open, Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// waitHealth waits until the health answer satisfies ok; in a synctest
// bubble the wait costs no real time.
func waitHealth(t *testing.T, s *Sink, what string, ok func(error) bool) error {
	t.Helper()
	deadline := time.Now().Add(10 * time.Minute)
	for {
		st, changed := s.Status()
		if ok(st.Err) {
			return st.Err
		}
		select {
		case <-changed:
		case <-time.After(time.Until(deadline)):
			t.Fatalf("health never became %s: %v", what, st.Err)
		}
	}
}

func healthy(err error) bool { return err == nil }
func failed(err error) bool  { return err != nil }

// Issue 7, finding 7: a write that never returns held the player, and
// with it the agent's shutdown, for good.
func TestStuckWriteFailsTheDeviceWithinTheDeadlineAndItIsReopened(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		wedged := &fakeDevice{name: "USB card", hangAt: 3, release: make(chan struct{})}
		op := &opener{devices: []*fakeDevice{wedged}}
		s := openGuard(t, op)
		st, changed := s.Status()
		if st.Err != nil || st.Failures != 0 {
			t.Fatalf("health at start: %+v", st)
		}
		for i := range 2 {
			if err := s.Write(block); err != nil {
				t.Fatalf("write %d: %v", i, err)
			}
		}
		start := time.Now()
		err := s.Write(block)
		took := time.Since(start)
		if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "stuck") || !strings.Contains(err.Error(), "USB card") {
			t.Fatalf("stuck write: %v, want ErrFailed naming the device and saying it is stuck", err)
		}
		// 10 ms blocks on a 40 ms buffer: the floor of 2 s applies.
		if took != DefaultMinDeadline {
			t.Errorf("the stuck write returned after %v, want the deadline %v", took, DefaultMinDeadline)
		}
		select {
		case <-changed:
		default:
			t.Error("the health channel was not closed at the failure")
		}
		if s.Abandoned() != 1 {
			t.Errorf("%d calls abandoned, want 1", s.Abandoned())
		}
		// The device is reopened in the background, a test block played.
		waitHealth(t, s, "healthy", healthy)
		if st, _ := s.Status(); st.Failures != 1 || st.Last == nil || st.Last.Error() != err.Error() {
			t.Errorf("status after the recovery %+v, want 1 failure, the last one %v", st, err)
		}
		if n := op.count(); n != 2 {
			t.Fatalf("%d opens, want 2", n)
		}
		fresh := op.get(1)
		if w, smp, _ := fresh.stats(); w != 1 || smp != 960 || fresh.drains != 1 {
			t.Errorf("the reopened device got %d writes (%d samples), %d drains; want the 10 ms test block, drained", w, smp, fresh.drains)
		}
		if err := s.Write(block); err != nil {
			t.Fatalf("write after the reopen: %v", err)
		}
		if w, _, _ := fresh.stats(); w != 2 {
			t.Errorf("the write went elsewhere: the new device has %d writes", w)
		}
		// The stuck write comes back at last: its device is closed, the
		// goroutine ends.
		close(wedged.release)
		synctest.Wait()
		if _, _, closed := wedged.stats(); closed != 1 || s.Abandoned() != 0 {
			t.Errorf("the wedged device: closed %d times, %d calls still abandoned; want 1 and 0", closed, s.Abandoned())
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if _, _, closed := fresh.stats(); closed != 1 {
			t.Errorf("the current device closed %d times", closed)
		}
		if err := s.Write(block); !errors.Is(err, ErrClosed) {
			t.Errorf("Write after Close: %v", err)
		}
	})
}

func TestFailedDeviceFailsWritesAtOnceUntilItIsBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		op := &opener{devices: []*fakeDevice{{name: "card", failAt: 2}}}
		s := openGuard(t, op)
		defer s.Close()
		s.Write(block)
		op.mu.Lock()
		op.err = errors.New("no such device")
		op.mu.Unlock()
		err := s.Write(block)
		if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "device unplugged") {
			t.Fatalf("failing write: %v", err)
		}
		// Reopening fails for a while: writes fail without waiting.
		for range 5 {
			start := time.Now()
			if err := s.Write(block); !errors.Is(err, ErrFailed) || time.Since(start) != 0 {
				t.Fatalf("write while failed: %v after %v, want ErrFailed at once", err, time.Since(start))
			}
			time.Sleep(10 * time.Second)
		}
		if _, _, closed := op.get(0).stats(); closed != 1 {
			t.Errorf("the failed device closed %d times, want 1", closed)
		}
		if s.Failures() != 1 {
			t.Errorf("%d failures", s.Failures())
		}
		op.mu.Lock()
		op.err = nil
		op.mu.Unlock()
		waitHealth(t, s, "healthy", healthy)
		if err := s.Write(block); err != nil {
			t.Fatal(err)
		}
	})
}

func TestAbandonedCallsAreBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var devs []*fakeDevice
		for i := range 10 {
			devs = append(devs, &fakeDevice{name: fmt.Sprint("dead server ", i), hangAll: true, release: release})
		}
		devs[0].hangAll, devs[0].hangAt = false, 1
		op := &opener{devices: devs}
		s := openGuard(t, op)
		s.Write(block)
		err := waitHealth(t, s, "given up", func(err error) bool { return err != nil && strings.Contains(err.Error(), "restart") })
		if !errors.Is(err, ErrFailed) || s.Abandoned() != DefaultMaxAbandoned {
			t.Fatalf("health %v with %d abandoned calls; want a give-up after %d", err, s.Abandoned(), DefaultMaxAbandoned)
		}
		opened := op.count()
		time.Sleep(time.Hour)
		if op.count() != opened {
			t.Errorf("%d more opens after giving up", op.count()-opened)
		}
		// The driver lets go: every abandoned call ends, closes its device,
		// and the reopening starts again.
		close(release)
		synctest.Wait()
		waitHealth(t, s, "healthy", healthy)
		if s.Abandoned() != 0 {
			t.Errorf("%d calls still abandoned", s.Abandoned())
		}
		for i := range opened {
			if _, _, closed := op.get(i).stats(); closed != 1 {
				t.Errorf("device %d closed %d times", i, closed)
			}
		}
		s.Close()
	})
}

func TestCloseIsBoundedWhateverTheDevice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		hung := &fakeDevice{name: "card", hangAt: 1, release: release}
		op := &opener{devices: []*fakeDevice{hung}}
		s := openGuard(t, op)
		// The device hangs; the reopen then opens more hung devices.
		op.mu.Lock()
		op.devices = []*fakeDevice{{hangAll: true, release: release}, {hangAll: true, release: release}}
		op.mu.Unlock()
		s.Write(block)
		time.Sleep(time.Second) // the reopen's first attempt is on its way
		start := time.Now()
		s.Close()
		if took := time.Since(start); took > 2*DefaultMinDeadline {
			t.Errorf("Close took %v", took)
		}
		close(release)
	})
}

func TestStuckOpenIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		start := time.Now()
		_, err := Open(Options{Log: quiet(), Open: func() (audio.Sink, error) {
			<-release
			return &fakeDevice{name: "late"}, nil
		}})
		if !errors.Is(err, ErrFailed) || time.Since(start) != DefaultOpenTimeout {
			t.Fatalf("Open: %v after %v, want ErrFailed after %v", err, time.Since(start), DefaultOpenTimeout)
		}
		close(release)
	})
}

func TestFirstOpenErrorIsReturnedAsItIs(t *testing.T) {
	absent := errors.New("no output device: not present on this board")
	_, err := Open(Options{Log: quiet(), Open: func() (audio.Sink, error) { return nil, absent }})
	if err != absent {
		t.Fatalf("Open: %v, want the device's own error", err)
	}
	if _, err := Open(Options{}); err == nil {
		t.Error("Open without Options.Open succeeded")
	}
}

func TestDeadlineGrowsWithTheBlockAndTheBuffer(t *testing.T) {
	op := &opener{}
	s := openGuard(t, op)
	defer s.Close()
	d := s.cur
	tests := []struct {
		samples int
		buffer  time.Duration
		want    time.Duration
	}{
		{960, 0, 2 * time.Second},                                  // 10 ms blocks, 40 ms buffer: the floor
		{48000 * 2 / 10, 0, 5 * time.Second},                       // 100 ms blocks: 50 blocks
		{960, time.Second, 4 * time.Second},                        // a 1 s buffer: 4 buffers
		{48000 * 2, 250 * time.Millisecond, time.Minute * 50 / 60}, // 1 s blocks: 50 s
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.samples, tt.buffer), func(t *testing.T) {
			s.o.Buffer = tt.buffer
			if got := s.deadline(d, tt.samples); got != tt.want {
				t.Errorf("deadline %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCallerErrorsDoNotFailTheDevice(t *testing.T) {
	op := &opener{}
	s := openGuard(t, op)
	defer s.Close()
	if err := s.Write(make([]int16, 3)); err == nil || errors.Is(err, ErrFailed) {
		t.Errorf("a frame and a half: %v, want an error about the frames", err)
	}
	if st, _ := s.Status(); st.Err != nil {
		t.Errorf("health after a caller's mistake: %v", st.Err)
	}
}

func TestUnderrunsAddUpAcrossDevices(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		first := &fakeDevice{name: "card", failAt: 2, underruns: 3}
		op := &opener{devices: []*fakeDevice{first}}
		s := openGuard(t, op)
		defer s.Close()
		s.Write(block)
		s.Write(block)
		waitHealth(t, s, "healthy", healthy)
		op.get(1).mu.Lock()
		op.get(1).underruns = 2
		op.get(1).mu.Unlock()
		if n := s.Underruns(); n != 5 {
			t.Errorf("%d underruns, want 3 + 2", n)
		}
		if s.Latency() != 40*time.Millisecond {
			t.Errorf("latency %v", s.Latency())
		}
	})
}

func TestStuckDrainFailsTheDevice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		op := &opener{devices: []*fakeDevice{{name: "card", hangDrain: true, release: release}}}
		s := openGuard(t, op)
		defer s.Close()
		s.Write(block)
		start := time.Now()
		err := s.Drain()
		if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "a drain did not return") || time.Since(start) != DefaultMinDeadline {
			t.Errorf("stuck drain: %v after %v", err, time.Since(start))
		}
		if err := s.Drain(); !errors.Is(err, ErrFailed) {
			t.Errorf("drain of a failed device: %v", err)
		}
		close(release)
		synctest.Wait()
		if s.Abandoned() != 0 {
			t.Errorf("%d calls abandoned after the release", s.Abandoned())
		}
	})
}
