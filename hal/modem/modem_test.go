package modem

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loaxa/loaxa/hal"
	"github.com/loaxa/loaxa/internal/clock"
)

const initQuectel = `
> ATE0
< OK
> AT+CMEE=1
< OK
> AT+CGMI
< Quectel
< OK
> AT+CGMM
< EC25
< OK
> AT+CGSN
< 866758040123452
< OK
> AT+QGPS=1
< OK
`

// A modem that leaves the bus in the middle of a reading fails that
// reading with ErrClosed; the next reading opens the port again (the new
// one) and sets the modem up again.
func TestModemReopensAfterPortFailure(t *testing.T) {
	first := newPlayback(t, "before", steps(t, initQuectel+`
> AT+CPIN?
< ~
`))
	second := newPlayback(t, "after", steps(t, initQuectel+`
> AT+CPIN?
< +CME ERROR: 10
> AT+CEREG?
< +CEREG: 0,0
< OK
> AT+CGREG?
< +CGREG: 0,0
< OK
> AT+CREG?
< +CREG: 0,0
< OK
> AT+QENG="servingcell"
< +QENG: "servingcell","SEARCH"
< OK
> AT+CSQ
< +CSQ: 99,99
< OK
> AT+CCLK?
< +CCLK: "80/01/06,00:00:05+00"
< OK
> AT+QGPSLOC=2
< +CME ERROR: 516
`))
	m := newTestModem(t, first, second)
	errc := make(chan error, 1)
	go func() {
		_, err := m.Read(context.Background())
		errc <- err
	}()
	waitFor(t, func() bool { return first.leftovers() == nil })
	first.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("err = %v, want ErrClosed", err)
	}
	r, err := m.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r.SIM == nil || *r.SIM != hal.SIMAbsent || r.IMEI == nil {
		t.Errorf("reading after the reopen: %+v", r)
	}
	if err := second.leftovers(); err != nil {
		t.Error(err)
	}
}

// A silent modem holds a reading exactly as long as one command timeout,
// whatever the reading still had to ask.
func TestModemSilentIsBoundedByTheTimeout(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	pb := newPlayback(t, "silent", steps(t, "> ATE0\n< ~\n"))
	path := filepath.Join(t.TempDir(), "ttyUSB2")
	os.WriteFile(path, nil, 0o644)
	m, err := New(Config{Port: path, Clock: clk, CommandTimeout: 3 * time.Second,
		Open: func(string, int) (io.ReadWriteCloser, error) { return pb, nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Halt()
	errc := make(chan error, 1)
	go func() {
		_, err := m.Read(context.Background())
		errc <- err
	}()
	waitArmed(t, clk, 1)
	clk.Advance(3 * time.Second)
	if err := <-errc; !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
}

func TestModemAbsentOrMissing(t *testing.T) {
	s := newFakeSysfs(t)
	m, err := New(Config{SysRoot: s.root})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Read(context.Background()); !errors.Is(err, hal.ErrAbsent) {
		t.Errorf("no modem on the board: err = %v, want ErrAbsent", err)
	}
	if !strings.Contains(m.String(), "2c7c:0125") {
		t.Errorf("String = %q: should say what it looks for", m.String())
	}

	m, err = New(Config{Port: filepath.Join(t.TempDir(), "ttyUSB2")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Read(context.Background())
	if !errors.Is(err, ErrPortMissing) || errors.Is(err, hal.ErrAbsent) {
		t.Errorf("configured port missing: err = %v, want ErrPortMissing and not ErrAbsent", err)
	}
	for _, op := range []func(context.Context) error{m.RadioOff, m.RadioOn, m.Reset} {
		if err := op(context.Background()); !errors.Is(err, ErrPortMissing) {
			t.Errorf("operation without a port: err = %v", err)
		}
	}
}

func TestModemHalt(t *testing.T) {
	pb := newPlayback(t, "halt", steps(t, "> ATE0\n< ~\n"))
	m := newTestModem(t, pb)
	errc := make(chan error, 1)
	go func() {
		_, err := m.Read(context.Background())
		errc <- err
	}()
	waitFor(t, func() bool { return pb.leftovers() == nil })
	if err := m.Halt(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Errorf("reading during Halt: err = %v, want ErrClosed", err)
	}
	if _, err := m.Read(context.Background()); !errors.Is(err, ErrHalted) {
		t.Errorf("after Halt: err = %v, want ErrHalted", err)
	}
	if err := m.Halt(); err != nil {
		t.Errorf("second Halt: %v", err)
	}
}

func TestModemRadioAndReset(t *testing.T) {
	pb := newPlayback(t, "radio", steps(t, initQuectel+`
> AT+CFUN=0
< OK
> AT+CFUN=1
< OK
> AT+CFUN=1,1
< OK
`))
	pb2 := newPlayback(t, "after reset", steps(t, initQuectel+"> AT+CFUN=1\n< OK\n"))
	m := newTestModem(t, pb, pb2)
	ctx := context.Background()
	if err := m.RadioOff(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.RadioOn(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if err := pb.leftovers(); err != nil {
		t.Error(err)
	}
	// The reset let go of the port: the next operation opens it again
	// and sets the modem up first.
	if err := m.RadioOn(ctx); err != nil {
		t.Fatal(err)
	}
	if err := pb2.leftovers(); err != nil {
		t.Error(err)
	}
	if !strings.Contains(m.String(), "Quectel EC25") {
		t.Errorf("String = %q", m.String())
	}
}
