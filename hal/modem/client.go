package modem

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/loaxa/loaxa/internal/clock"
)

// maxCommand bounds a command line; 3GPP TS 27.007 asks modems to accept
// at least 256 characters and nothing the agent sends comes close.
const maxCommand = 256

// ClientOptions configure a Client. The zero value is usable.
type ClientOptions struct {
	// Clock times the commands; nil means the real clock.
	Clock clock.Clock
	// Logger receives stray lines and noise at debug level; nil discards.
	Logger *slog.Logger
	// MaxLine bounds one line from the modem; 0 means DefaultMaxLine.
	MaxLine int
}

// Stats counts what the modem sent that belonged to no command.
type Stats struct {
	// URCs is the number of unsolicited result codes given to handlers.
	URCs int
	// Stray is the number of lines that came while no command waited and
	// no handler wanted them (late answers of timed-out commands, URCs
	// nobody registered).
	Stray int
	// Garbage is the number of lines dropped as noise: too long, or not
	// printable ASCII.
	Garbage int
}

// Client talks AT commands over one open port: one command at a time,
// each with its own timeout, unsolicited result codes routed to handlers.
// It owns two goroutines (a reader and a writer) that Close stops and
// waits for.
//
// It tolerates command echo (ATE1) as well as its absence, empty lines,
// stray lines between commands, lines of noise, and a port that fails
// (the modem left the USB bus): every Command then fails at once with an
// error wrapping ErrClosed.
type Client struct {
	port    io.ReadWriteCloser
	clk     clock.Clock
	log     *slog.Logger
	maxLine int

	sem    chan struct{}  // one command at a time
	writes chan writeReq  // to the writer goroutine
	done   chan struct{}  // closed when the reader stops: port closed or failed
	quit   chan struct{}  // closed by Close
	wg     sync.WaitGroup // the reader and the writer
	once   sync.Once

	mu       sync.Mutex // guards the fields below
	pending  *pendingCmd
	handlers []urcHandler
	err      error // why the reader stopped
	needSync bool  // a command timed out: its answer may still come
	stats    Stats
}

type pendingCmd struct {
	cmd    string
	prefix string
	// sync: an OK before a line with prefix is an older command's.
	sync bool
	resp Response
	done chan struct{} // closed when the final result code came
}

type urcHandler struct {
	prefix string
	fn     func(line string)
}

type writeReq struct {
	data   []byte
	result chan error // buffered: the writer never blocks on it
}

// NewClient starts a client on port. The client owns the port from now on:
// Close closes it.
func NewClient(port io.ReadWriteCloser, o ClientOptions) *Client {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxLine <= 0 {
		o.MaxLine = DefaultMaxLine
	}
	c := &Client{
		port:    port,
		clk:     o.Clock,
		log:     o.Logger,
		maxLine: o.MaxLine,
		sem:     make(chan struct{}, 1),
		writes:  make(chan writeReq),
		done:    make(chan struct{}),
		quit:    make(chan struct{}),
	}
	c.wg.Add(2)
	go c.reader()
	go c.writer()
	return c
}

// Handle routes unsolicited result codes starting with prefix (e.g.
// "+CEREG:", "RDY") to fn. fn runs on the client's reader goroutine: it
// must return quickly and must not call Command. A line that starts with
// the prefix a running command answers with (a "+CEREG:" line during
// AT+CEREG?) goes to the command, not to fn.
func (c *Client) Handle(prefix string, fn func(line string)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.handlers = append(c.handlers, urcHandler{prefix: prefix, fn: fn})
}

// Done is closed when the port is closed or failed; Err then says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the client stopped, or nil while it runs.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Stats returns the counters of unsolicited, stray and noise lines.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Command sends cmd (without its CR) and returns the modem's answer once
// the final result code came. The answer must come within timeout of the
// command being sent, and everything (waiting for an earlier command,
// sending) within ctx. A refused command (ERROR, +CME ERROR) returns the
// response and a *CommandError; a timeout an error wrapping ErrTimeout; a
// closed or failed port an error wrapping ErrClosed.
func (c *Client) Command(ctx context.Context, cmd string, timeout time.Duration) (*Response, error) {
	if len(cmd) == 0 || len(cmd) > maxCommand || !printable(cmd) {
		return nil, fmt.Errorf("modem: command %q: want 1 to %d printable ASCII characters", truncate(cmd), maxCommand)
	}
	if timeout <= 0 {
		return nil, fmt.Errorf("modem: command %s: timeout %v must be positive", cmd, timeout)
	}
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("modem: %s: waiting for the previous command: %w", cmd, ctx.Err())
	case <-c.done:
		return nil, c.closedErr(cmd)
	}
	defer func() { <-c.sem }()

	c.mu.Lock()
	resync := c.needSync
	c.needSync = false
	c.mu.Unlock()
	if resync {
		// A timed-out command's answer may still be on its way. A query
		// whose answer has a line of its own collects it: a final code
		// that comes before that line is the old command's, and is
		// dropped. Modems answer in order, so once the query is answered
		// nothing of the old command is left.
		if _, err := c.exchange(ctx, syncCommand, timeout, true); err != nil && !isRefused(err) {
			return nil, fmt.Errorf("modem: %s: %w", cmd, err)
		}
	}
	return c.exchange(ctx, cmd, timeout, false)
}

// syncCommand is the query that resynchronises after a timeout: every
// 27.007 modem answers it with a "+CFUN:" line.
const syncCommand = "AT+CFUN?"

// exchange sends one command and waits for its final result code; c.sem
// is held.
func (c *Client) exchange(ctx context.Context, cmd string, timeout time.Duration, sync bool) (*Response, error) {
	p := &pendingCmd{cmd: cmd, prefix: responsePrefix(cmd), sync: sync, done: make(chan struct{})}
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, c.closedErr(cmd)
	}
	c.pending = p
	c.mu.Unlock()

	t := c.clk.NewTimer(timeout)
	defer t.Stop()
	abandon := func(err error) (*Response, error) {
		c.mu.Lock()
		if c.pending == p {
			c.pending = nil
		}
		c.needSync = true
		c.mu.Unlock()
		return nil, err
	}

	req := writeReq{data: []byte(cmd + "\r"), result: make(chan error, 1)}
	select {
	case c.writes <- req:
	case <-t.C():
		return abandon(fmt.Errorf("modem: %s: the port did not take the command within %v: %w", cmd, timeout, ErrTimeout))
	case <-ctx.Done():
		return abandon(fmt.Errorf("modem: %s: %w", cmd, ctx.Err()))
	case <-c.done:
		return abandon(c.closedErr(cmd))
	}
	select {
	case err := <-req.result:
		if err != nil {
			return abandon(fmt.Errorf("modem: %s: write: %w: %w", cmd, err, ErrClosed))
		}
	case <-t.C():
		return abandon(fmt.Errorf("modem: %s: the port did not take the command within %v: %w", cmd, timeout, ErrTimeout))
	case <-ctx.Done():
		return abandon(fmt.Errorf("modem: %s: %w", cmd, ctx.Err()))
	case <-c.done:
		return abandon(c.closedErr(cmd))
	}

	select {
	case <-p.done:
	case <-t.C():
		return abandon(fmt.Errorf("modem: %s: no final result code within %v: %w", cmd, timeout, ErrTimeout))
	case <-ctx.Done():
		return abandon(fmt.Errorf("modem: %s: %w", cmd, ctx.Err()))
	case <-c.done:
		// The final code may have come just before the port failed.
		select {
		case <-p.done:
		default:
			return abandon(c.closedErr(cmd))
		}
	}
	resp := &p.resp
	if !resp.Final.OK() {
		return resp, &CommandError{Cmd: cmd, Final: resp.Final}
	}
	return resp, nil
}

func (c *Client) closedErr(cmd string) error {
	c.mu.Lock()
	err := c.err
	c.mu.Unlock()
	if err == nil || errors.Is(err, ErrClosed) {
		return fmt.Errorf("modem: %s: %w", cmd, ErrClosed)
	}
	return fmt.Errorf("modem: %s: %w: %w", cmd, ErrClosed, err)
}

// Close closes the port and waits for the client's goroutines. It is safe
// to call more than once and from any goroutine.
func (c *Client) Close() error {
	var err error
	c.once.Do(func() {
		close(c.quit)
		err = c.port.Close()
		c.wg.Wait()
	})
	return err
}

// reader reads the port until it fails or is closed.
func (c *Client) reader() {
	defer c.wg.Done()
	split := newLineSplitter(c.maxLine)
	buf := make([]byte, 512)
	for {
		n, err := c.port.Read(buf)
		if n > 0 {
			before := split.Dropped
			split.Feed(buf[:n], c.dispatch)
			if d := split.Dropped - before; d > 0 {
				c.mu.Lock()
				c.stats.Garbage += d
				c.mu.Unlock()
			}
		}
		// A read of nothing without an error is how some ports report a
		// hang-up (go.bug.st/serial turns it into an error, *os.File on a
		// pty does not always); reading again would spin.
		if err != nil || n == 0 {
			c.stop(err)
			return
		}
	}
}

// stop records why the reader stopped and wakes every waiter.
func (c *Client) stop(err error) {
	select {
	case <-c.quit:
		err = ErrClosed
	default:
		if err == nil || errors.Is(err, io.EOF) {
			err = fmt.Errorf("the port reached its end: %w", ErrClosed)
		}
		c.log.Warn("modem port failed", "err", err)
	}
	c.mu.Lock()
	c.err = err
	c.pending = nil
	c.mu.Unlock()
	close(c.done)
}

// writer writes commands; it is a goroutine of its own so that a port
// that stops taking bytes holds only it, never the caller of Command.
func (c *Client) writer() {
	defer c.wg.Done()
	for {
		select {
		case <-c.quit:
			return
		case <-c.done:
			return
		case req := <-c.writes:
			_, err := c.port.Write(req.data)
			req.result <- err
		}
	}
}

// dispatch decides what one line from the modem is.
func (c *Client) dispatch(line string) {
	if !printable(line) {
		c.mu.Lock()
		c.stats.Garbage++
		c.mu.Unlock()
		c.log.Debug("modem noise", "line", truncate(line))
		return
	}
	c.mu.Lock()
	p := c.pending
	h := c.handlerFor(line)
	switch {
	case p != nil && strings.EqualFold(strings.TrimSpace(line), p.cmd):
		c.mu.Unlock() // echo
		return
	case p != nil && h != nil && (p.prefix == "" || !hasPrefixFold(line, p.prefix)):
		// An unsolicited code in the middle of an answer.
	case p != nil:
		if f, ok := ParseFinal(line); ok {
			if p.sync && f.OK() && !p.resp.hasPrefixed(p.prefix) {
				c.stats.Stray++
				c.mu.Unlock()
				c.log.Debug("modem late answer dropped", "line", line)
				return
			}
			p.resp.Final = f
			c.pending = nil
			close(p.done)
		} else if len(p.resp.Lines) < maxResponseLines {
			p.resp.Lines = append(p.resp.Lines, line)
		} else {
			p.resp.Truncated = true
		}
		c.mu.Unlock()
		return
	case h == nil:
		c.stats.Stray++
		c.mu.Unlock()
		c.log.Debug("modem stray line", "line", truncate(line))
		return
	}
	c.stats.URCs++
	c.mu.Unlock()
	h(line)
}

// handlerFor returns the handler of an unsolicited line, or nil; c.mu is
// held.
func (c *Client) handlerFor(line string) func(string) {
	for _, h := range c.handlers {
		if hasPrefixFold(line, h.prefix) {
			return h.fn
		}
	}
	return nil
}

func hasPrefixFold(s, prefix string) bool {
	_, ok := cutPrefixFold(s, prefix)
	return ok
}

func isRefused(err error) bool {
	var ce *CommandError
	return errors.As(err, &ce)
}

// truncate keeps logs and errors readable when a modem spews.
func truncate(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
