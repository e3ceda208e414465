package mqtttest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/loaxa/loaxa/internal/testenv"
)

// readyTimeout bounds how long a starting broker may take to accept TCP
// connections, and stopTimeout how long a SIGTERMed one may take to save its
// persistence and exit. They are failure bounds, not timing assertions: a
// healthy mosquitto needs a few milliseconds for either.
const (
	readyTimeout = 15 * time.Second
	stopTimeout  = 15 * time.Second
)

// Broker is one mosquitto process owned by a test. Its methods are safe for
// concurrent use, but Start and Restart call t.Fatal on failure, so call them
// from the test's own goroutine.
type Broker struct {
	t    testing.TB
	bin  string
	dir  string
	port int

	log  *logBuffer
	opts Options // queue bound, authentication and ACL (auth.go); zero: Start's broker

	mu   sync.Mutex // guards proc and done: the running process, nil when stopped
	proc *exec.Cmd
	done chan struct{} // closed when proc has exited and been reaped
}

// Start starts mosquitto on 127.0.0.1 at a free port, with its config,
// persistence and log in t.TempDir(), and stops it in t.Cleanup. It fails
// the test if mosquitto does not come up. A missing mosquitto (Debian
// package "mosquitto", looked for on $PATH and in /usr/sbin) follows
// internal/testenv's policy: a failure under CI=true, a skip elsewhere.
func Start(t testing.TB) *Broker {
	t.Helper()
	return startWith(t, Options{})
}

func startWith(t testing.TB, o Options) *Broker {
	t.Helper()
	bin := testenv.NeedTool(t, "mosquitto", "mosquitto")
	b := &Broker{t: t, bin: bin, dir: t.TempDir(), log: &logBuffer{}, opts: o}
	if err := b.prepareAuth(); err != nil {
		t.Fatalf("mqtttest: %v", err)
	}
	t.Cleanup(b.Stop)
	if os.Getenv("LOAXA_MQTTTEST_DEBUG") != "" {
		// Registered after Stop, so it runs first: the log of a failed
		// test, while it still has everything.
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("mqtttest: broker log:\n%s", b.Log())
			}
		})
	}

	// The free port is found by binding :0 and closing it, so another
	// process can take it before mosquitto binds it. Retry with a new port
	// in that case rather than failing a test over a race it did not cause.
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			t.Fatalf("mqtttest: find a free port: %v", err)
		}
		b.port = port
		if lastErr = b.start(); lastErr == nil {
			return b
		}
		b.log.WriteString(fmt.Sprintf("--- mqtttest: start on port %d failed: %v ---\n", port, lastErr))
	}
	t.Fatalf("mqtttest: mosquitto did not start: %v\n%s", lastErr, b.Log())
	return nil
}

// URL is the broker's address as an MQTT URL, "tcp://127.0.0.1:PORT".
func (b *Broker) URL() string { return "tcp://" + b.Addr() }

// Addr is the broker's host:port, "127.0.0.1:PORT".
func (b *Broker) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(b.port)) }

// Dir is the broker's working directory (config, persistence).
func (b *Broker) Dir() string { return b.dir }

// Log returns everything mosquitto has logged so far, across restarts, for
// failure messages.
func (b *Broker) Log() string { return b.log.String() }

// Stop sends SIGTERM and waits for mosquitto to exit; mosquitto saves its
// persistence file on a clean stop. If it does not exit in time it is killed.
// Stopping a stopped broker does nothing.
func (b *Broker) Stop() {
	b.stop(syscall.SIGTERM)
}

// Kill sends SIGKILL and waits for the process to go, as in a broker crash:
// only what the last autosave wrote survives a later Restart.
func (b *Broker) Kill() {
	b.stop(syscall.SIGKILL)
}

// Running reports whether the broker process is alive.
func (b *Broker) Running() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done == nil {
		return false
	}
	select {
	case <-b.done:
		return false
	default:
		return true
	}
}

// Restart stops the broker (if running) and starts it again on the same
// port with the same persistence, returning once it accepts TCP
// connections. It fails the test if the broker does not come back.
func (b *Broker) Restart() {
	b.t.Helper()
	b.Stop()
	b.log.WriteString("--- mqtttest: restart ---\n")
	if err := b.start(); err != nil {
		b.t.Fatalf("mqtttest: restart mosquitto on %s: %v\n%s", b.Addr(), err, b.Log())
	}
}

func (b *Broker) stop(sig syscall.Signal) {
	b.mu.Lock()
	proc, done := b.proc, b.done
	b.proc, b.done = nil, nil
	b.mu.Unlock()
	if proc == nil {
		return
	}
	_ = proc.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(stopTimeout):
		b.t.Logf("mqtttest: mosquitto ignored %v for %v; killing it", sig, stopTimeout)
		_ = proc.Process.Kill()
		<-done
	}
}

// config writes mosquitto.conf. Persistence lives in the temp dir so a
// Restart finds the queued messages; autosave every second so even a Kill
// loses little. "user root" matters only when tests run as root: mosquitto
// 2 otherwise drops to user "mosquitto", which cannot write the temp dir.
func (b *Broker) config() (string, error) {
	var c bytes.Buffer
	fmt.Fprintf(&c, "listener %d 127.0.0.1\n", b.port)
	c.WriteString(b.authConfig())
	c.WriteString("set_tcp_nodelay true\n")
	c.WriteString("persistence true\n")
	fmt.Fprintf(&c, "persistence_location %s/\n", b.dir)
	c.WriteString("autosave_interval 1\n")
	// Queue enough for tests that park many QoS 1 messages for an offline
	// client; the default of 1000 is plenty, but say so explicitly.
	maxQueued := b.opts.MaxQueued
	switch maxQueued {
	case 0:
		maxQueued = 1000
	case -1:
		maxQueued = 0 // mosquitto's "no limit"
	}
	fmt.Fprintf(&c, "max_queued_messages %d\n", maxQueued)
	c.WriteString("log_dest stderr\n")
	types := []string{"error", "warning", "notice", "information", "subscribe", "unsubscribe"}
	if os.Getenv("LOAXA_MQTTTEST_DEBUG") != "" {
		types = append(types, "debug") // every packet, for chasing a flaky test
	}
	for _, lt := range types {
		fmt.Fprintf(&c, "log_type %s\n", lt)
	}
	c.WriteString("log_timestamp_format %H:%M:%S\n")
	if os.Geteuid() == 0 {
		c.WriteString("user root\n")
	}
	path := filepath.Join(b.dir, "mosquitto.conf")
	if err := os.WriteFile(path, c.Bytes(), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return path, nil
}

// start launches mosquitto and waits until it accepts TCP connections.
func (b *Broker) start() error {
	conf, err := b.config()
	if err != nil {
		return err
	}
	cmd := exec.Command(b.bin, "-c", conf)
	cmd.Dir = b.dir
	testenv.DieWithTest(cmd) // no orphaned brokers if the test binary dies without Cleanup
	cmd.Stdout = b.log
	cmd.Stderr = b.log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("exec %s: %w", b.bin, err)
	}
	done := make(chan struct{})
	var waitErr error
	// Owned by the Broker: it ends when the process exits, which stop()
	// guarantees (SIGTERM, then SIGKILL) and Cleanup always calls.
	go func() {
		waitErr = cmd.Wait()
		close(done)
	}()
	b.mu.Lock()
	b.proc, b.done = cmd, done
	b.mu.Unlock()

	deadline := time.Now().Add(readyTimeout)
	for {
		conn, err := net.DialTimeout("tcp", b.Addr(), time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-done:
			b.mu.Lock()
			if b.done == done {
				b.proc, b.done = nil, nil
			}
			b.mu.Unlock()
			return fmt.Errorf("mosquitto exited before accepting connections: %w", errOr(waitErr))
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b.stop(syscall.SIGKILL)
			return fmt.Errorf("mosquitto did not accept connections on %s within %v", b.Addr(), readyTimeout)
		}
	}
}

func errOr(err error) error {
	if err == nil {
		return errors.New("exit status 0")
	}
	return err
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("listen on 127.0.0.1:0: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// logBuffer collects mosquitto's output; exec copies into it from its own
// goroutines while tests read it.
type logBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) WriteString(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.WriteString(s)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// pid is the running broker's process id, for tests; 0 when stopped.
func (b *Broker) pid() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.proc == nil {
		return 0
	}
	return b.proc.Process.Pid
}
