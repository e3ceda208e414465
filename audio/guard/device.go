package guard

import (
	"sync/atomic"
	"time"

	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/internal/clock"
)

type opKind int

// device states
const (
	live int32 = iota
	abandoned
	finished
)

const (
	opWrite opKind = iota
	opDrain
	opClose
)

func (k opKind) String() string {
	switch k {
	case opWrite:
		return "a write"
	case opDrain:
		return "a drain"
	}
	return "a close"
}

// op is one call for a device's worker.
type op struct {
	kind opKind
	p    []int16
}

// device is one opened sink and the worker goroutine that makes every call
// into it, so that the caller can stop waiting for one.
type device struct {
	sink    audio.Sink
	latency time.Duration
	ops     chan op    // closed when the device is abandoned
	res     chan error // the result of each op, in order
	done    chan struct{}
	// buf is the copy of the samples being written; it belongs to the
	// caller between calls and to the worker during one.
	buf []int16
	// timer times each call in turn (Sink.call): one for the device's
	// life rather than one made and dropped per write, 25 a second.
	timer clock.Timer
	// state is live, abandoned (by the caller) or finished (by the
	// worker, after a close): whichever comes first decides who accounts
	// for the call.
	state    atomic.Int32
	released func(what string)
}

func newDevice(sink audio.Sink, released func(string)) *device {
	d := &device{
		sink:     sink,
		ops:      make(chan op, 1),
		res:      make(chan error, 1),
		done:     make(chan struct{}),
		released: released,
	}
	if l, ok := sink.(interface{ Latency() time.Duration }); ok {
		d.latency = l.Latency()
	}
	go d.run()
	return d
}

// run makes the calls. It ends after a close, or, once the device is
// abandoned, when the stuck call returns: it then closes the sink itself
// and says so.
func (d *device) run() {
	defer close(d.done)
	last := opWrite
	for o := range d.ops {
		last = o.kind
		var err error
		switch o.kind {
		case opWrite:
			err = d.sink.Write(o.p)
		case opDrain:
			err = d.sink.(drainer).Drain()
		case opClose:
			err = d.sink.Close()
		}
		// res has room: a caller takes every result or abandons the
		// device, after which no call is sent.
		d.res <- err
		if o.kind == opClose {
			break
		}
	}
	if d.state.CompareAndSwap(live, finished) {
		return
	}
	if last != opClose {
		d.sink.Close()
	}
	d.released(last.String())
}

// abandon stops sending calls; the worker finishes once the stuck call
// returns. It reports false when the worker had already finished (a close
// that returned just as its deadline passed): nothing is stuck.
func (d *device) abandon() bool {
	if !d.state.CompareAndSwap(live, abandoned) {
		return false
	}
	close(d.ops)
	return true
}
