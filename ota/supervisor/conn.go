package supervisor

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/loaxa/loaxa/ota"
)

// Exit statuses between the agent and the supervisor.
const (
	// ExitRestart: the agent asks to be started again, same slot, at once
	// (the restart command). Not counted as a crash. It is
	// internal/daemon.ExitRestart (EX_TEMPFAIL).
	ExitRestart = 75
	// ExitSwitch: the agent installed a release into the other slot and
	// asks to be switched to it (on trial). Never used by anything else.
	ExitSwitch = 76
)

// EnvInfo is the environment variable through which the supervisor tells
// its child what it started: a JSON object with the fields of
// ota.BootInfo plus "fd", the child's end of the control socket.
const EnvInfo = "LOAXA_SUPERVISOR"

// ctlFD is the child's descriptor of the control socket: the first of
// exec.Cmd.ExtraFiles.
const ctlFD = 3

// envInfo is the JSON of EnvInfo.
type envInfo struct {
	FD int `json:"fd"`
	ota.BootInfo
}

// maxLine bounds one control message.
const maxLine = 16 << 10

// message is one line from the agent to the supervisor.
type message struct {
	// Healthy reports the agent healthy (once per start).
	Healthy bool `json:"healthy,omitempty"`
	// Status is what the agent waits for, for the record of a trial
	// timeout ("broker not connected").
	Status string `json:"status,omitempty"`
}

// reply is the supervisor's answer to a health report.
type reply struct {
	OK        bool           `json:"ok"`
	Committed bool           `json:"committed,omitempty"`
	Event     *ota.BootEvent `json:"event,omitempty"`
	Error     string         `json:"error,omitempty"`
}

// Conn is the agent's end of the control socket: it implements
// ota.Supervisor. Safe for concurrent use.
type Conn struct {
	info      ota.BootInfo
	inherited *os.File   // fd 3, kept open for a re-exec
	mu        sync.Mutex // guards c and r: one exchange at a time
	c         net.Conn
	r         *bufio.Reader
}

// Attach connects the agent to the supervisor that started it, from the
// environment. It returns (nil, nil) when the agent was not started by a
// supervisor (EnvInfo unset), for example in development.
func Attach() (*Conn, error) { return AttachEnv(os.Getenv) }

// AttachEnv is Attach with another environment.
func AttachEnv(getenv func(string) string) (*Conn, error) {
	v := getenv(EnvInfo)
	if v == "" {
		return nil, nil
	}
	var e envInfo
	if err := json.Unmarshal([]byte(v), &e); err != nil {
		return nil, fmt.Errorf("supervisor: $%s: %w", EnvInfo, err)
	}
	if e.FD <= 2 {
		return nil, fmt.Errorf("supervisor: $%s: fd %d is not a control socket", EnvInfo, e.FD)
	}
	f := os.NewFile(uintptr(e.FD), "supervisor-control")
	if f == nil {
		return nil, fmt.Errorf("supervisor: fd %d is not open", e.FD)
	}
	c, err := NewConn(f, e.BootInfo)
	if err != nil {
		return nil, err
	}
	// The descriptor stays open (and f referenced, so no finalizer closes
	// it): an agent that re-executes itself for a restart attaches again
	// after the exec.
	c.inherited = f
	return c, nil
}

// NewConn wraps the child's end of a control socket. It uses its own
// descriptor; f stays the caller's. Tests with in-process children use it
// directly.
func NewConn(f *os.File, info ota.BootInfo) (*Conn, error) {
	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("supervisor: control socket: %w", err)
	}
	info.Supervised = true
	return &Conn{info: info, c: c, r: bufio.NewReaderSize(c, 4096)}, nil
}

// Info is what the supervisor said it started.
func (c *Conn) Info() ota.BootInfo { return c.info }

// ReportHealthy tells the supervisor that the agent is healthy (broker
// connected, audio device open, relays answering) and waits for its
// answer. On trial the answer commits the running version.
func (c *Conn) ReportHealthy(ctx context.Context) (ota.HealthReply, error) {
	var r reply
	if err := c.exchange(ctx, message{Healthy: true}, &r); err != nil {
		return ota.HealthReply{}, err
	}
	if !r.OK {
		return ota.HealthReply{}, fmt.Errorf("supervisor: %s", r.Error)
	}
	return ota.HealthReply{Committed: r.Committed, Event: r.Event}, nil
}

// ReportStatus tells the supervisor what the agent is waiting for
// ("broker not connected"); if a trial times out, the last status is
// recorded with the rollback. It returns once the supervisor has it.
func (c *Conn) ReportStatus(ctx context.Context, status string) error {
	var r reply
	return c.exchange(ctx, message{Status: status}, &r)
}

// Close closes the control socket.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.c == nil {
		return nil
	}
	err := c.c.Close()
	c.c = nil
	return err
}

func (c *Conn) exchange(ctx context.Context, m message, r *reply) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.c == nil {
		return errors.New("supervisor: connection closed")
	}
	conn := c.c // the AfterFunc may run after Close cleared c.c
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	} else {
		conn.SetDeadline(time.Time{})
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	b, _ := json.Marshal(m)
	if _, err := conn.Write(append(b, '\n')); err != nil {
		return ctxErr(ctx, fmt.Errorf("supervisor: write: %w", err))
	}
	if r == nil {
		return nil
	}
	line, err := readLine(c.r)
	if err != nil {
		return ctxErr(ctx, fmt.Errorf("supervisor: read: %w", err))
	}
	if err := json.Unmarshal(line, r); err != nil {
		return fmt.Errorf("supervisor: answer %s: %w", strconv.Quote(string(line)), err)
	}
	return nil
}

func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// newLineReader returns a function reading one line at a time from r.
func newLineReader(r io.Reader) func() ([]byte, error) {
	br := bufio.NewReaderSize(r, 4096)
	return func() ([]byte, error) { return readLine(br) }
}

// readLine reads one line of at most maxLine bytes.
func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, isPrefix, err := r.ReadLine()
		if err != nil {
			return nil, err
		}
		line = append(line, chunk...)
		if len(line) > maxLine {
			return nil, fmt.Errorf("a control message longer than %d bytes", maxLine)
		}
		if !isPrefix {
			return line, nil
		}
	}
}
