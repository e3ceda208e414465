package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/goleak"

	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/internal/clock"
	"github.com/loaxa/loaxa/internal/mqtttest"
	"github.com/loaxa/loaxa/internal/testbin"
	"github.com/loaxa/loaxa/internal/testenv"
)

// The binaries the end-to-end tests built go with the test process.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		testbin.Cleanup()
		os.Exit(code)
	}))
}

// t0 is the fake "now" of every test: 10:00 UTC on a weekday.
var t0 = time.Date(2025, 11, 25, 10, 0, 0, 0, time.UTC)

const root = wire.DefaultRoot

// harness is one broker, one fake clock and the environment loaxactl sees.
type harness struct {
	t     *testing.T
	b     *mqtttest.Broker
	clk   *clock.Fake
	env   map[string]string
	acked atomic.Int64 // acks a group send has recorded (onAck)
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, clk: clock.NewFake(t0)}
	h.b = mqtttest.Start(t)
	// The broker comes from the environment, as an operator's would.
	h.env = map[string]string{EnvBroker: h.b.URL()}
	return h
}

func (h *harness) cli(stdout, stderr *syncBuffer) *CLI {
	return &CLI{
		Stdout:   stdout,
		Stderr:   stderr,
		Getenv:   func(k string) string { return h.env[k] },
		Clock:    h.clk,
		Location: time.UTC,
		NewID:    func() string { return "c-1" },
		onAck:    func(n int) { h.acked.Store(int64(n)) },
	}
}

// run runs loaxactl to completion.
func (h *harness) run(args ...string) (code int, stdout, stderr string) {
	h.t.Helper()
	r := h.start(args...)
	return r.wait()
}

// running is a loaxactl started in the background, for tests that must
// act (advance the clock, publish, interrupt) while it runs.
type running struct {
	t              *testing.T
	stdout, stderr *syncBuffer
	cancel         context.CancelFunc
	done           chan int
}

func (h *harness) start(args ...string) *running {
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{t: h.t, stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel, done: make(chan int, 1)}
	c := h.cli(r.stdout, r.stderr)
	go func() { r.done <- c.Run(ctx, args) }()
	h.t.Cleanup(func() {
		cancel()
		<-r.done // nothing outlives the test (goleak)
	})
	return r
}

func (r *running) wait() (int, string, string) {
	r.t.Helper()
	select {
	case code := <-r.done:
		r.done <- code // for the Cleanup
		return code, r.stdout.String(), r.stderr.String()
	case <-time.After(mqtttest.WaitTimeout):
		r.t.Fatalf("loaxactl did not finish\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
		return 0, "", ""
	}
}

// waitFor polls cond: a readiness wait, not a timing assertion.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(mqtttest.WaitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// armed waits until loaxactl has published and armed its ack timer, so
// that advancing the fake clock is the timeout and nothing else.
func (h *harness) armed() {
	h.t.Helper()
	waitFor(h.t, "loaxactl to arm its ack timer", func() bool { return h.clk.Waiters() > 0 })
}

// syncBuffer is a program's output that the test reads line by line.
type syncBuffer struct{ testenv.Buffer }

func (s *syncBuffer) lines() []string {
	t := strings.TrimRight(s.String(), "\n")
	if t == "" {
		return nil
	}
	return strings.Split(t, "\n")
}

// device is a fake pole: it receives commands on its own and its groups'
// topics, decodes them as the agent does, and answers with reply (nil
// reply: it stays silent, like a pole that is off).
type device struct {
	id  string
	got chan mqtttest.Message
}

type replyFunc func(c *wire.Command) wire.Ack

func (h *harness) device(id string, groups []string, reply replyFunc) *device {
	h.t.Helper()
	d := &device{id: id, got: make(chan mqtttest.Message, 16)}
	cl := mqtttest.Client(h.t, h.b, id)
	topics := wire.Topics{Root: root, ID: id}
	handler := func(cl mqtt.Client, m mqtt.Message) {
		msg := mqtttest.Message{Topic: m.Topic(), Payload: append([]byte(nil), m.Payload()...), Retained: m.Retained(), QoS: m.Qos()}
		select {
		case d.got <- msg:
		default:
		}
		if reply == nil {
			return
		}
		c, werr := wire.Decode(msg.Payload, h.clk.Now())
		var a wire.Ack
		if werr != nil {
			a = wire.Ack{ID: werr.ID, OK: false, Error: werr}
		} else {
			a = reply(c)
			a.ID, a.Cmd = c.ID, c.Cmd
		}
		a.TS = h.clk.Now().UnixMilli()
		b, _ := json.Marshal(a)
		cl.Publish(topics.Ack(), 1, false, b)
	}
	filters := map[string]byte{topics.Cmd(): 1}
	for _, g := range groups {
		filters[topics.GroupCmd(g)] = 1
	}
	mqtttest.Wait(h.t, cl.SubscribeMultiple(filters, handler), "subscribe "+id)
	return d
}

// next returns the next command the device received.
func (d *device) next(t *testing.T) mqtttest.Message {
	t.Helper()
	return mqtttest.Next(t, d.got)
}

func okWith(result string) replyFunc {
	return func(*wire.Command) wire.Ack {
		a := wire.Ack{OK: true}
		if result != "" {
			a.Result = json.RawMessage(result)
		}
		return a
	}
}

func failWith(code wire.Code, msg string) replyFunc {
	return func(*wire.Command) wire.Ack {
		return wire.Ack{OK: false, Error: &wire.Error{Code: code, Message: msg}}
	}
}
