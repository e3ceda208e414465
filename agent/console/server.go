package console

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/loaxa/loaxa/internal/backoff"
	"github.com/loaxa/loaxa/internal/clock"
)

// Opener opens the console's port. The server calls it again, with backoff,
// whenever the port fails (a USB-serial adapter or gadget unplugged) or
// cannot be opened yet. Close must unblock a Read in progress.
type Opener func(ctx context.Context) (io.ReadWriteCloser, error)

// Reopen backoff: full jitter from 1 s doubling to 30 s, so a console
// cable plugged back in is served within seconds.
const (
	reopenBase = time.Second
	reopenMax  = 30 * time.Second
)

// Output bounds: at most maxPending bytes wait for the writer; output beyond
// it is dropped (and said so) rather than blocking the console. At 115200
// baud that is 11 s of output.
const (
	maxPending   = 128 << 10
	flushTimeout = 2 * time.Second
)

// Options configure a Server.
type Options struct {
	// Backend executes commands; required.
	Backend Backend
	// Open opens the port; required (SerialOpener for a real port).
	Open Opener
	// Name names the port in logs and events, e.g. "/dev/ttyAMA0".
	Name string
	// Clock times idle logout, login delays and reopening; nil is real.
	Clock clock.Clock
	// Log receives the console's own log lines (never a secret); nil is
	// slog.Default().
	Log *slog.Logger
	// Event receives EventSession and EventCommand events. It is called
	// from the console goroutine and must not block (agent.Report fits).
	Event func(typ string, data map[string]any)
	// IsSecret tells which configuration keys hold secrets, so that
	// `config set KEY VALUE` is not echoed; nil guesses from the name
	// (password, *_key). The agent passes config.IsSecret.
	IsSecret func(key string) bool
}

// Server is one console on one port. Build it with New, start it with
// Start, stop it with Close.
type Server struct {
	opts     Options
	clk      clock.Clock
	log      *slog.Logger
	idPrefix string
	iter     int // hash iterations for passwords set here (tests lower it)

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	start  sync.Once
	stop   sync.Once
	began  bool // Start ran; guarded by start

	// Owned by the serving goroutine: the wrong-password delay outlives a
	// session and a reopened port, so unplugging the cable does not reset it.
	seq      uint64
	failures int
	retryAt  time.Time
}

// New checks opts and returns a Server that is not running yet.
func New(opts Options) (*Server, error) {
	if opts.Backend == nil || opts.Open == nil {
		return nil, errors.New("console: Backend and Open are required")
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.IsSecret == nil {
		opts.IsSecret = secretKey
	}
	var r [4]byte
	_, _ = rand.Read(r[:]) // crypto/rand.Read does not fail on supported platforms
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		opts: opts, clk: opts.Clock, log: opts.Log,
		// Command ids must not repeat across agent restarts: the agent
		// answers a remembered id without executing it again.
		idPrefix: "con-" + hex.EncodeToString(r[:]) + "-",
		iter:     Iterations,
		ctx:      ctx, cancel: cancel, done: make(chan struct{}),
	}, nil
}

// Start starts serving in a goroutine that Close stops. Calling it again
// does nothing.
func (s *Server) Start() {
	s.start.Do(func() {
		s.began = true
		go func() {
			defer close(s.done)
			s.run()
		}()
	})
}

// Close stops the console and waits for its goroutines; output already
// queued is flushed first (bounded). It is safe to call twice, and before
// Start.
func (s *Server) Close() error {
	s.stop.Do(func() {
		s.cancel()
		s.start.Do(func() {}) // a later Start does nothing
		if s.began {
			<-s.done
		}
	})
	return nil
}

func (s *Server) run() {
	bo := backoff.New(reopenBase, reopenMax, s.clk, nil)
	var lastErr string
	for s.ctx.Err() == nil {
		port, err := s.opts.Open(s.ctx)
		if err != nil {
			// Logged once per distinct error: a board without its gadget
			// port would otherwise log every 30 s for years.
			if err.Error() != lastErr {
				s.log.Warn("console port cannot be opened; retrying", "port", s.opts.Name, "err", err)
				lastErr = err.Error()
			}
			if bo.Wait(s.ctx) != nil {
				return
			}
			continue
		}
		lastErr = ""
		s.log.Info("console port open", "port", s.opts.Name)
		active, err := s.serve(port)
		if s.ctx.Err() != nil {
			return
		}
		s.log.Warn("console port lost; reopening", "port", s.opts.Name, "err", err)
		if active {
			bo.Reset() // it worked: come back fast
		}
		if bo.Wait(s.ctx) != nil {
			return
		}
	}
}

// serve runs one session loop on an open port until it fails or the server
// closes. active tells whether anything was received.
func (s *Server) serve(port io.ReadWriteCloser) (active bool, err error) {
	c := newConn(port, s.clk, s.log)
	defer c.close()
	ss := newSession(s, c)
	ss.greet()
	for {
		select {
		case <-s.ctx.Done():
			ss.end("shutdown")
			return active, s.ctx.Err()
		case r := <-c.in:
			if len(r.data) > 0 {
				active = true
				ss.input(r.data)
			}
			if r.err != nil {
				ss.end("port_lost")
				return active, r.err
			}
		case err := <-c.werr:
			ss.end("port_lost")
			return active, err
		case <-ss.idleC():
			ss.idle()
		}
	}
}

func (s *Server) newID() string {
	s.seq++
	return s.idPrefix + strconv.FormatUint(s.seq, 10)
}

func (s *Server) event(typ string, data map[string]any) {
	if s.opts.Event != nil {
		s.opts.Event(typ, data)
	}
}

// Wrong-password delays: 1 s after the first, doubling up to loginMaxDelay.
const loginMaxDelay = 5 * time.Minute

// loginWait is how long a login must still wait; 0 when it may try now.
func (s *Server) loginWait() time.Duration {
	if d := s.retryAt.Sub(s.clk.Now()); d > 0 {
		return d
	}
	return 0
}

func (s *Server) loginFailed() time.Duration {
	s.failures++
	d := time.Second
	for i := 1; i < s.failures && d < loginMaxDelay; i++ {
		d *= 2
	}
	d = min(d, loginMaxDelay)
	s.retryAt = s.clk.Now().Add(d)
	return d
}

func (s *Server) loginOK() { s.failures, s.retryAt = 0, time.Time{} }

// conn is one open port: a reader and a writer goroutine, so the session
// loop never blocks on the wire.
type conn struct {
	port io.ReadWriteCloser
	clk  clock.Clock
	log  *slog.Logger

	in   chan readResult
	werr chan error
	stop chan struct{}
	wake chan struct{} // signalled when pending has bytes

	mu      sync.Mutex // guards pending and dropped, shared with the writer
	pending []byte
	dropped int

	wg    sync.WaitGroup
	wdone chan struct{}
}

type readResult struct {
	data []byte
	err  error
}

func newConn(port io.ReadWriteCloser, clk clock.Clock, log *slog.Logger) *conn {
	c := &conn{
		port: port, clk: clk, log: log,
		in:   make(chan readResult, 16),
		werr: make(chan error, 1), stop: make(chan struct{}), wake: make(chan struct{}, 1), wdone: make(chan struct{}),
	}
	c.wg.Add(1)
	go c.reader()
	go c.writer()
	return c
}

// reader ends when the port fails or is closed.
func (c *conn) reader() {
	defer c.wg.Done()
	empty := 0
	for {
		buf := make([]byte, 4096)
		n, err := c.port.Read(buf)
		if n == 0 && err == nil {
			// Some drivers report a vanished device as endless empty
			// reads; do not spin on it.
			if empty++; empty > 100 {
				err = io.ErrUnexpectedEOF
			}
		} else {
			empty = 0
		}
		if n > 0 || err != nil {
			select {
			case c.in <- readResult{data: buf[:n], err: err}:
			case <-c.stop:
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// writer writes what the session queued, as few writes as it can (a
// paste echoes thousands of small pieces); after stop it flushes what is
// left and ends.
func (c *conn) writer() {
	defer close(c.wdone)
	var buf []byte
	flush := func() bool {
		c.mu.Lock()
		buf, c.pending = c.pending, buf[:0]
		c.mu.Unlock()
		if len(buf) == 0 {
			return true
		}
		if _, err := c.port.Write(buf); err != nil {
			select {
			case c.werr <- err:
			default:
			}
			return false
		}
		return true
	}
	for {
		select {
		case <-c.wake:
			if !flush() {
				return
			}
		case <-c.stop:
			flush()
			return
		}
	}
}

// write queues b; it never blocks. Output beyond maxPending is dropped: a
// terminal that does not read must not stall the console.
func (c *conn) write(b []byte) {
	if len(b) == 0 {
		return
	}
	c.mu.Lock()
	if c.dropped > 0 && len(c.pending) < maxPending/2 {
		c.pending = fmt.Appendf(c.pending, "\r\n[%d bytes of output dropped: the terminal did not read]\r\n", c.dropped)
		c.dropped = 0
	}
	if len(c.pending)+len(b) > maxPending {
		if c.dropped == 0 {
			c.log.Warn("console output dropped: the terminal does not read")
		}
		c.dropped += len(b)
	} else {
		c.pending = append(c.pending, b...)
	}
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// close flushes (bounded), closes the port and waits for both goroutines.
func (c *conn) close() {
	close(c.stop)
	t := c.clk.NewTimer(flushTimeout)
	select {
	case <-c.wdone:
	case <-t.C():
		// A write is stuck (nobody reads a USB gadget port): throw the
		// output away so the blocked write returns.
		if r, ok := c.port.(interface{ ResetOutputBuffer() error }); ok {
			_ = r.ResetOutputBuffer()
		}
	}
	t.Stop()
	if err := c.port.Close(); err != nil {
		c.log.Debug("console port close", "err", err)
	}
	<-c.wdone
	c.wg.Wait()
}
