package console

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/internal/clock"
)

// ErrTimeout is returned by Client.Do when no ack came in time.
var ErrTimeout = errors.New("console: no answer in time")

// maxClientLine bounds a line the client keeps; longer ones are cut.
const maxClientLine = 1 << 20

// Reply is an ack read back by a Client.
type Reply struct {
	ID     string          `json:"id"`
	Cmd    string          `json:"cmd"`
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result"`
	Error  *wire.Error     `json:"error"`
}

// Err returns the reply's error as a Go error, nil when OK.
func (r *Reply) Err() error {
	if r.OK {
		return nil
	}
	if r.Error == nil {
		return errors.New("not ok, and no error given")
	}
	return r.Error
}

// Client drives a console from the other end of the cable with JSON lines:
// one command document per line out, one ack per line back. Lines that are
// not acks (banner, prompts, echo of what a person typed) are skipped.
// `loaxactl provision` uses it; so can any tool. A Client is not safe for
// concurrent use: one command at a time.
type Client struct {
	port   io.ReadWriteCloser
	clk    clock.Clock
	prefix string
	seq    int
	reset  bool

	lines chan string
	done  chan struct{}
	stop  chan struct{}
	once  sync.Once
	err   error // why the reader ended; read after done is closed
	// OnLine, when set before the first Do, sees every line read (for a
	// transcript); it runs on the Client's reader goroutine.
	OnLine func(string)
}

// NewClient starts reading port. Close closes the port and waits.
func NewClient(port io.ReadWriteCloser, clk clock.Clock) *Client {
	if clk == nil {
		clk = clock.Real{}
	}
	var r [4]byte
	_, _ = rand.Read(r[:])
	c := &Client{
		port: port, clk: clk, prefix: "ctl-" + hex.EncodeToString(r[:]) + "-",
		lines: make(chan string, 64), done: make(chan struct{}), stop: make(chan struct{}),
	}
	go c.read()
	return c
}

func (c *Client) read() {
	defer close(c.done)
	buf := make([]byte, 4096)
	var cur []byte
	for {
		n, err := c.port.Read(buf)
		for _, b := range buf[:n] {
			if b != '\n' && b != '\r' {
				if len(cur) < maxClientLine {
					cur = append(cur, b)
				}
				continue
			}
			if len(cur) == 0 {
				continue
			}
			l := string(cur)
			cur = cur[:0]
			if c.OnLine != nil {
				c.OnLine(l)
			}
			select {
			case c.lines <- l:
			case <-c.stop:
				return
			}
		}
		if err != nil {
			c.err = err
			return
		}
	}
}

// Close closes the port and waits for the reader. Safe to call twice.
func (c *Client) Close() error {
	var err error
	c.once.Do(func() {
		close(c.stop)
		err = c.port.Close()
		<-c.done
	})
	return err
}

// Do sends one command and waits up to timeout for its ack. args may be
// nil, a json.RawMessage or anything encoding/json encodes as an object.
func (c *Client) Do(ctx context.Context, timeout time.Duration, cmd string, args any) (*Reply, error) {
	if !c.reset {
		// Ctrl-C first: a half-typed line or a password prompt left by a
		// person would otherwise swallow the first document.
		if _, err := c.port.Write([]byte{0x03}); err != nil {
			return nil, fmt.Errorf("console: write: %w", err)
		}
		c.reset = true
	}
	c.seq++
	id := c.prefix + strconv.Itoa(c.seq)
	doc := map[string]any{"id": id, "cmd": cmd}
	if args != nil {
		doc["args"] = args
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("console: encode %s: %w", cmd, err)
	}
	if len(b) > MaxJSONLine {
		return nil, fmt.Errorf("console: the %s document is %d bytes; the console takes at most %d", cmd, len(b), MaxJSONLine)
	}
	if _, err := c.port.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("console: write: %w", err)
	}
	t := c.clk.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case l := <-c.lines:
			r, ok := parseReply(l)
			if !ok {
				continue
			}
			if r.ID == id || r.ID == "" && !r.OK {
				// "" is a line the console could not read an id from
				// (too long, not JSON): ours, as only one is in flight.
				return r, nil
			}
		case <-c.done:
			return nil, fmt.Errorf("console: port closed: %w", c.err)
		case <-t.C():
			return nil, fmt.Errorf("%w (%s after %s)", ErrTimeout, cmd, timeout)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// parseReply finds an ack in a line; a prompt may precede it.
func parseReply(l string) (*Reply, bool) {
	i := bytes.Index([]byte(l), []byte(`{"id":`))
	if i < 0 {
		return nil, false
	}
	var r Reply
	if json.Unmarshal([]byte(l[i:]), &r) != nil {
		return nil, false
	}
	return &r, true
}
