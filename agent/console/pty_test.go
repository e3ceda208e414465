//go:build linux

package console

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loaxa/loaxa/internal/clock"
	"github.com/loaxa/loaxa/internal/testenv"
)

// cable is a pseudo-terminal pair: the board opens the slave by its path
// through go.bug.st/serial, as it opens /dev/ttyAMA0; the test holds the
// master, the technician's end.
type cable struct {
	master, slave *os.File
	term          *term
	done          chan struct{}
}

func newCable(t *testing.T) *cable {
	t.Helper()
	p := testenv.OpenPTY(t, false) // closing the master ends the reader below
	m, s := p.Master, p.Slave
	c := &cable{master: m, slave: s, done: make(chan struct{})}
	c.term = &term{t: t, w: m, out: &testenv.Buffer{}}
	go func() {
		defer close(c.done)
		_, _ = io.Copy(c.term.out, m) // ends when the master is closed
	}()
	t.Cleanup(func() {
		c.pull()
		s.Close()
	})
	return c
}

// pull closes the technician's end, as when the cable is pulled out.
func (c *cable) pull() {
	c.master.Close()
	<-c.done
}

// ptyRig is a console on real serial ports (pty slaves), re-opened from a
// list the test extends.
type ptyRig struct {
	t     *testing.T
	be    *fakeBackend
	ev    *events
	clk   *clock.Fake
	srv   *Server
	mu    sync.Mutex // guards paths and opens
	paths []string
	opens int
}

func newPtyRig(t *testing.T, first *cable) *ptyRig {
	r := &ptyRig{t: t, be: newFakeBackend(), ev: &events{}, clk: clock.NewFake(t0), paths: []string{first.slave.Name()}}
	srv, err := New(Options{
		Backend: r.be, Clock: r.clk, Event: r.ev.add, Name: "pty",
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Open: func(ctx context.Context) (io.ReadWriteCloser, error) {
			r.mu.Lock()
			defer r.mu.Unlock()
			if len(r.paths) == 0 {
				return nil, errors.New("no cable plugged in")
			}
			p := r.paths[0]
			r.paths = r.paths[1:]
			r.opens++
			return OpenSerial(p, DefaultBaud)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.iter = MinIterations
	r.srv = srv
	srv.Start()
	t.Cleanup(func() { srv.Close() })
	return r
}

func (r *ptyRig) plug(c *cable) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.paths = append(r.paths, c.slave.Name())
}

func (r *ptyRig) openCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.opens
}

func TestSerialConsoleOnPty(t *testing.T) {
	c := newCable(t)
	newPtyRig(t, c)
	c.term.expect("loaxa pole pole-1, firmware 1.2.3")
	c.term.expect("pole-1# ")
	c.term.typ("ping\r")
	c.term.expect("ping\r\nok\r\nuptime_s: 42\r\nversion: 1.2.3\r\npole-1# ")
	c.term.typ(`{"id":"j","cmd":"zones","args":{"on":["z1"]}}` + "\n")
	line := c.term.expect("}\r\n")
	if !strings.Contains(line, `{"id":"j","cmd":"zones","ok":true,"result":{"zones":{"z1":true,"z2":false}}`) {
		t.Errorf("JSON ack line = %q", line)
	}
}

// TestBinaryNoiseOnPty: a megabyte of random bytes, as from a loose cable
// or a wrong baud rate, gets error lines (few of them) and the console
// answers right after.
func TestBinaryNoiseOnPty(t *testing.T) {
	c := newCable(t)
	r := newPtyRig(t, c)
	c.term.expect("pole-1# ")
	rng := rand.New(rand.NewPCG(3, 4))
	noise := make([]byte, 1<<20)
	for i := range noise {
		noise[i] = byte(rng.IntN(256))
	}
	for chunk := range slices.Chunk(noise, 4096) {
		c.term.typ(string(chunk))
	}
	c.term.typ("\x03ping\r")
	c.term.expect("version: 1.2.3")
	out := c.term.out.String()
	if n := strings.Count(out, "error bad_request"); n < 1 || n > 5 {
		t.Errorf("%d noise error lines for 1 MiB of noise; want a few (rate-limited)", n)
	}
	if strings.Contains(out, "error too_large") == false && strings.Count(out, "\n") < 2 {
		t.Errorf("output:\n%q", out)
	}
	for _, call := range r.be.Calls() {
		if call != "do ping" {
			t.Errorf("noise reached the backend as %q", call)
		}
	}
}

// TestCablePulledMidLine: the technician's end goes away in the middle of a
// line; the half line is never executed, the session ends, and the console
// comes back on the next cable.
func TestCablePulledMidLine(t *testing.T) {
	c1 := newCable(t)
	r := newPtyRig(t, c1)
	c1.term.expect("pole-1# ")
	c1.term.typ("ping\r")
	c1.term.expect("version")
	c1.term.typ("zones on z")
	c1.term.expect("zones on z")
	c2 := newCable(t)
	r.plug(c2)
	c1.pull()
	waitFor(t, "the session to end with the port", func() bool {
		return len(r.ev.find(EventSession, map[string]any{"state": "end", "reason": "port_lost"})) == 1
	})
	// The reopen waits a backoff on the fake clock.
	waitFor(t, "the console to reopen", func() bool {
		r.clk.Advance(time.Second)
		return r.openCount() == 2
	})
	c2.term.expect("loaxa pole pole-1")
	c2.term.expect("pole-1# ")
	c2.term.typ("1\r")
	c2.term.expect("error unknown_command") // not "zones on z1"
	c2.term.typ("ping\r")
	c2.term.expect("version: 1.2.3")
	if calls := r.be.Calls(); !slices.Equal(calls, []string{"do ping", "do ping"}) {
		t.Errorf("backend calls = %q; the half line must not run", calls)
	}
}

// TestPortMissingAtStart: a console port that does not exist yet (a USB
// gadget not configured) is retried with backoff, quietly.
func TestPortMissingAtStart(t *testing.T) {
	be := newFakeBackend()
	clk := clock.NewFake(t0)
	var mu sync.Mutex // guards tries
	tries := 0
	srv, err := New(Options{Backend: be, Clock: clk, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Open: func(ctx context.Context) (io.ReadWriteCloser, error) {
			mu.Lock()
			defer mu.Unlock()
			tries++
			return OpenSerial("/dev/loaxa-no-such-port", DefaultBaud)
		}})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	waitFor(t, "three tries", func() bool {
		clk.Advance(reopenMax)
		mu.Lock()
		defer mu.Unlock()
		return tries >= 3
	})
	srv.Close()
	srv.Close() // twice is fine
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
