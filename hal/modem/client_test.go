package modem

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loaxa/loaxa/internal/clock"
)

func steps(t *testing.T, transcript string) []pbStep {
	t.Helper()
	path := t.TempDir() + "/t.txt"
	if err := writeFile(path, transcript); err != nil {
		t.Fatal(err)
	}
	return loadTranscript(t, path)
}

// waitArmed waits until the code under test has armed n timers of clk.
func waitArmed(t *testing.T, clk *clock.Fake, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for clk.Waiters() < n {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %d armed timers (have %d)", n, clk.Waiters())
		}
		time.Sleep(time.Millisecond)
	}
}

func TestClientAnswers(t *testing.T) {
	pb := newPlayback(t, "answers", steps(t, `
> AT+CSQ
< AT+CSQ
< +CSQ: 20,99
<
< OK
> AT+CPIN?
< +CME ERROR: 10
> AT+CGSN
< 866758040123452
< OK
`))
	c := NewClient(pb, ClientOptions{})
	defer c.Close()
	ctx := context.Background()

	resp, err := c.Command(ctx, "AT+CSQ", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := resp.Prefixed("+CSQ:"); p != "20,99" || len(resp.Lines) != 1 {
		t.Errorf("lines = %q: want the +CSQ line only (no echo, no empty line)", resp.Lines)
	}
	_, err = c.Command(ctx, "AT+CPIN?", time.Minute)
	if !CME(err, 10) {
		t.Errorf("err = %v, want +CME ERROR: 10", err)
	}
	resp, err = c.Command(ctx, "AT+CGSN", time.Minute)
	if err != nil || len(resp.Lines) != 1 || resp.Lines[0] != "866758040123452" {
		t.Errorf("AT+CGSN = %+v, %v", resp, err)
	}
	if err := pb.leftovers(); err != nil {
		t.Error(err)
	}
}

// A silent modem holds a command exactly as long as its timer: the command
// returns ErrTimeout when the (fake) clock passes the timeout, and the
// next command first collects the late answer with a sync query, so that
// the late answer is not taken for its own.
func TestClientTimeoutAndResync(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	pb := newPlayback(t, "timeout", steps(t, `
> AT+COPS?
< ~
> AT+CFUN?
< +CFUN: 1
< OK
> AT+CSQ
< +CSQ: 20,99
< OK
`))
	c := NewClient(pb, ClientOptions{Clock: clk})
	defer c.Close()

	errc := make(chan error, 1)
	go func() {
		_, err := c.Command(context.Background(), "AT+COPS?", 3*time.Second)
		errc <- err
	}()
	waitArmed(t, clk, 1)
	// The timer is armed before the command is handed to the port: moving
	// the clock before it was written would time it out unwritten, and the
	// sync query would then get AT+COPS?'s place in the transcript and its
	// silence (seen once in CI: the test hung on a fake clock).
	pb.waitSent(t, 1)
	clk.Advance(2999 * time.Millisecond)
	select {
	case err := <-errc:
		t.Fatalf("returned before its timeout: %v", err)
	default:
	}
	clk.Advance(time.Millisecond)
	if err := <-errc; !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}

	// The late answer arrives, and is still arriving when the next
	// command goes out.
	pb.inject("\r\n+COPS: 0,0,\"Viettel\",7\r\n\r\nOK\r\n")
	resp, err := c.Command(context.Background(), "AT+CSQ", 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := resp.Prefixed("+CSQ:"); p != "20,99" {
		t.Errorf("AT+CSQ answered %q: the late answer was taken for it", resp.Lines)
	}
	if err := pb.leftovers(); err != nil {
		t.Error(err)
	}
}

func TestClientURCs(t *testing.T) {
	pb := newPlayback(t, "urcs", steps(t, `
> AT+CEREG?
< +CEREG: 1,"3193","08F381C5",7
< RDY
< +CEREG: 2,1,"3193","08F381C5",7
< OK
> AT+CIMI
< +QIND: SMS DONE
< 452040123456789
< OK
`))
	c := NewClient(pb, ClientOptions{})
	defer c.Close()
	var mu sync.Mutex
	var got []string
	record := func(l string) { mu.Lock(); got = append(got, l); mu.Unlock() }
	c.Handle("RDY", record)
	c.Handle("+QIND:", record)
	c.Handle("+CEREG:", record)

	resp, err := c.Command(context.Background(), "AT+CEREG?", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// Both +CEREG lines go to the command (its own prefix); RDY to its
	// handler.
	if len(resp.Lines) != 2 {
		t.Errorf("AT+CEREG? lines = %q", resp.Lines)
	}
	resp, err = c.Command(context.Background(), "AT+CIMI", time.Minute)
	if err != nil || len(resp.Lines) != 1 || resp.Lines[0] != "452040123456789" {
		t.Errorf("AT+CIMI = %q, %v: the URC should not be part of the answer", resp.Lines, err)
	}
	// Between commands: to the handler.
	pb.inject("\r\n+CEREG: 2\r\n")
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 3 })
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(got, "|") != "RDY|+QIND: SMS DONE|+CEREG: 2" {
		t.Errorf("handlers got %q", got)
	}
	if s := c.Stats(); s.URCs != 3 {
		t.Errorf("Stats = %+v, want 3 URCs", s)
	}
}

// Noise (bytes that are not text, a line far longer than any answer)
// between and inside answers is dropped and counted, and costs nothing
// else.
func TestClientNoise(t *testing.T) {
	pb := newPlayback(t, "noise", steps(t, `
> AT+CSQ
< +CSQ: 20,99
< OK
`))
	c := NewClient(pb, ClientOptions{MaxLine: 64})
	defer c.Close()
	pb.inject("\x00\xff\x1b[2J\r\n" + strings.Repeat("x", 5000) + "\r\nstray line\r\n")
	resp, err := c.Command(context.Background(), "AT+CSQ", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := resp.Prefixed("+CSQ:"); p != "20,99" {
		t.Errorf("answer %q", resp.Lines)
	}
	if s := c.Stats(); s.Garbage != 2 {
		t.Errorf("Stats = %+v: want 2 lines of noise (the binary one, the overlong one)", s)
	}
}

func TestClientPortFailure(t *testing.T) {
	pb := newPlayback(t, "failure", steps(t, `
> AT+CSQ
< ~
`))
	c := NewClient(pb, ClientOptions{})
	defer c.Close()
	errc := make(chan error, 1)
	go func() {
		_, err := c.Command(context.Background(), "AT+CSQ", time.Hour)
		errc <- err
	}()
	waitFor(t, func() bool { return pb.leftovers() == nil })
	pb.Close() // the modem left the USB bus
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("err = %v, want ErrClosed", err)
	}
	<-c.Done()
	if _, err := c.Command(context.Background(), "AT", time.Hour); !errors.Is(err, ErrClosed) {
		t.Errorf("after failure: err = %v, want ErrClosed", err)
	}
	if c.Err() == nil {
		t.Error("Err() is nil after the port failed")
	}
	if err := c.Close(); err != nil {
		t.Error(err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestClientContextAndBadCommands(t *testing.T) {
	pb := newPlayback(t, "ctx", steps(t, `
> AT+COPS=?
< ~
`))
	c := NewClient(pb, ClientOptions{})
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.Command(ctx, "AT+COPS=?", time.Hour)
		errc <- err
	}()
	waitFor(t, func() bool { return pb.leftovers() == nil })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	for _, cmd := range []string{"", "AT\r\nATZ", strings.Repeat("A", 300), "AT+CSQ\x00"} {
		if _, err := c.Command(context.Background(), cmd, time.Second); err == nil {
			t.Errorf("Command(%q) accepted", cmd)
		}
	}
	if _, err := c.Command(context.Background(), "AT", 0); err == nil {
		t.Error("a zero timeout was accepted")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for a condition")
		}
		time.Sleep(time.Millisecond)
	}
}
