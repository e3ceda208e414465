package modem_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loaxa/loaxa/hal"
	halmodem "github.com/loaxa/loaxa/hal/modem"
	"github.com/loaxa/loaxa/internal/atomicfile"
	"github.com/loaxa/loaxa/internal/clock"
	simmodem "github.com/loaxa/loaxa/sim/modem"
)

// These tests drive the emulated modem through the real AT code
// (hal/modem over go.bug.st/serial) on a pseudo-terminal.

func startSim(t *testing.T, o simmodem.Options) *simmodem.Modem {
	t.Helper()
	if o.Dir == "" {
		o.Dir = filepath.Join(t.TempDir(), "sim", "modem")
	}
	if o.Watch == 0 {
		o.Watch = 5 * time.Millisecond
	}
	s, err := simmodem.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func dirOf(s *simmodem.Modem) string { return filepath.Dir(s.Path()) }

func newModem(t *testing.T, cfg halmodem.Config) *halmodem.Modem {
	t.Helper()
	if cfg.CommandTimeout == 0 {
		cfg.CommandTimeout = 2 * time.Second
	}
	m, err := halmodem.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Halt() })
	return m
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// setState writes the control file, as a person would, and waits until
// the emulator acted on it (a command logged after the change proves
// nothing; the tty's presence and a probe do), with its tty closed when
// gone, open otherwise.
func setState(t *testing.T, s *simmodem.Modem, st simmodem.State) {
	t.Helper()
	if err := simmodem.WriteState(dirOf(s), st); err != nil {
		t.Fatal(err)
	}
	// The state flips first, then the tty goes or comes back.
	waitFor(t, "state "+string(st), func() bool { return s.State() == st && (s.TTY() == "") == (st == simmodem.StateGone) })
}

func str(p *string) string {
	if p == nil {
		return "nil"
	}
	return *p
}

func num(p *float64) string {
	if p == nil {
		return "nil"
	}
	return floatString(*p)
}

func floatString(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func TestEveryState(t *testing.T) {
	tests := []struct {
		state simmodem.State
		check func(t *testing.T, r hal.ModemReading, err error)
	}{
		{simmodem.StateRegistered, func(t *testing.T, r hal.ModemReading, err error) {
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join([]string{str(r.RAT), floatString(*r.RSRPdBm), str(r.Operator), str(r.MCC) + "-" + str(r.MNC),
				string(*r.Registration), string(*r.SIM), str(r.ICCID), str(r.IMEI), str(r.IMSI), str(r.APN), str(r.Cell)}, " ")
			want := "LTE -95 Viettel 452-04 home ready 89840480000123456789 869710030002905 452040123456789 v-internet 6F2D10A"
			if got != want {
				t.Errorf("reading %s\n   want %s", got, want)
			}
			if r.NetworkTime == nil || r.GNSS == nil || r.GNSS.Fix {
				t.Errorf("network time %v, GNSS %+v: want a time and no fix", r.NetworkTime, r.GNSS)
			}
		}},
		{simmodem.StateSearching, func(t *testing.T, r hal.ModemReading, err error) {
			if err != nil {
				t.Fatal(err)
			}
			if *r.Registration != hal.RegSearching || r.RAT != nil || r.RSRPdBm != nil || r.RSSIdBm != nil || r.Operator != nil || r.NetworkTime != nil {
				t.Errorf("searching: %+v", r)
			}
			if *r.SIM != hal.SIMReady || r.ICCID == nil {
				t.Error("searching: the SIM should be read")
			}
		}},
		{simmodem.StateDenied, func(t *testing.T, r hal.ModemReading, err error) {
			if err != nil {
				t.Fatal(err)
			}
			if *r.Registration != hal.RegDenied || r.Operator != nil || r.RSRPdBm == nil || *r.RSRPdBm != -95 {
				t.Errorf("denied: registration %v, operator %v, RSRP %v", *r.Registration, str(r.Operator), r.RSRPdBm)
			}
		}},
		{simmodem.StateNoSIM, func(t *testing.T, r hal.ModemReading, err error) {
			if err != nil {
				t.Fatal(err)
			}
			if *r.SIM != hal.SIMAbsent || r.ICCID != nil || r.IMSI != nil || r.APN != nil || str(r.IMEI) != "869710030002905" || *r.Registration != hal.RegNotRegistered {
				t.Errorf("no SIM: %+v", r)
			}
		}},
		{simmodem.StateGone, func(t *testing.T, r hal.ModemReading, err error) {
			if !errors.Is(err, halmodem.ErrPortMissing) {
				t.Errorf("gone: err = %v, want ErrPortMissing", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.state), func(t *testing.T) {
			s := startSim(t, simmodem.Options{})
			setState(t, s, tt.state)
			m := newModem(t, halmodem.Config{Port: s.Path()})
			r, err := m.Read(context.Background())
			tt.check(t, r, err)
		})
	}
}

// A silent or garbage-spewing modem holds a reading exactly one command
// timeout of the reader's clock, never more: the reading is cut when the
// (fake) clock passes it.
func TestSilentAndGarbageAreBounded(t *testing.T) {
	for _, st := range []simmodem.State{simmodem.StateSilent, simmodem.StateGarbage} {
		t.Run(string(st), func(t *testing.T) {
			s := startSim(t, simmodem.Options{Seed: 7})
			setState(t, s, st)
			clk := clock.NewFake(time.Unix(1_700_000_000, 0))
			m := newModem(t, halmodem.Config{Port: s.Path(), Clock: clk, CommandTimeout: 3 * time.Second})
			errc := make(chan error, 1)
			go func() {
				_, err := m.Read(context.Background())
				errc <- err
			}()
			waitFor(t, "the command's timer", func() bool { return clk.Waiters() == 1 })
			waitFor(t, "the command to reach the modem", func() bool { return len(s.Commands()) == 1 })
			clk.Advance(3*time.Second - time.Millisecond)
			select {
			case err := <-errc:
				t.Fatalf("returned before its timeout: %v", err)
			case <-time.After(20 * time.Millisecond):
			}
			clk.Advance(time.Millisecond)
			if err := <-errc; !errors.Is(err, halmodem.ErrTimeout) {
				t.Fatalf("err = %v, want ErrTimeout", err)
			}
		})
	}
}

func TestRSRPAndGNSSFollowTheFiles(t *testing.T) {
	// Followed as they change, not by polling: an idle pole is not woken
	// to read files that did not change.
	s := startSim(t, simmodem.Options{Watch: time.Hour})
	m := newModem(t, halmodem.Config{Port: s.Path()})
	if err := simmodem.WriteRSRP(dirOf(s), -112.4); err != nil {
		t.Fatal(err)
	}
	if err := simmodem.WriteGNSS(dirOf(s), &[2]float64{21.0285, 105.8542}); err != nil {
		t.Fatal(err)
	}
	var r hal.ModemReading
	waitFor(t, "the new RSRP in a reading", func() bool {
		var err error
		r, err = m.Read(context.Background())
		return err == nil && r.RSRPdBm != nil && *r.RSRPdBm == -112 && r.GNSS != nil && r.GNSS.Fix
	})
	if *r.GNSS.Lat != 21.0285 || *r.GNSS.Lon != 105.8542 {
		t.Errorf("GNSS %v,%v", *r.GNSS.Lat, *r.GNSS.Lon)
	}
	// Nonsense in a control file changes nothing. (Written atomically: a
	// gnss file caught empty in the middle of a plain write means "no fix".)
	seen := s.Ignored()
	for name, content := range map[string]string{"rsrp": "very weak\n", "state": "flying\n", "gnss": "91,0\n"} {
		if _, err := atomicfile.WriteFile(filepath.Join(dirOf(s), name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the emulator to read the nonsense", func() bool { return s.Ignored() >= seen+3 })
	r, err := m.Read(context.Background())
	if err != nil || *r.RSRPdBm != -112 || *r.Registration != hal.RegHome || !r.GNSS.Fix {
		t.Errorf("after nonsense: %v, RSRP %v, %v, fix %v", err, num(r.RSRPdBm), str((*string)(r.Registration)), r.GNSS.Fix)
	}
}

// gone then back: the tty disappears, the reading fails, and once the
// modem is back under another name the same configured path finds it.
func TestGoneAndBackUnderAnotherName(t *testing.T) {
	s := startSim(t, simmodem.Options{})
	m := newModem(t, halmodem.Config{Port: s.Path()})
	if _, err := m.Read(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := s.TTY()
	setState(t, s, simmodem.StateGone)
	if _, err := os.Lstat(s.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the tty's symlink is still there while gone: %v", err)
	}
	_, err := m.Read(context.Background())
	if !errors.Is(err, halmodem.ErrClosed) && !errors.Is(err, halmodem.ErrPortMissing) {
		t.Fatalf("reading a gone modem: %v", err)
	}
	setState(t, s, simmodem.StateRegistered)
	waitFor(t, "the tty back", func() bool { return s.TTY() != "" })
	if s.TTY() == before {
		t.Fatalf("back under the same name %s", before)
	}
	r, err := m.Read(context.Background())
	if err != nil {
		t.Fatalf("reading after the modem came back as %s: %v", s.TTY(), err)
	}
	if *r.Registration != hal.RegHome {
		t.Errorf("registration %v", *r.Registration)
	}
	if !strings.Contains(m.String(), s.Path()) {
		t.Errorf("String = %q", m.String())
	}
}

// AT+CFUN=1,1 makes the modem leave and come back under another name, as
// a USB modem re-enumerates; the next readings find it.
func TestResetComesBack(t *testing.T) {
	// Back when its downtime ends, not at the next poll.
	s := startSim(t, simmodem.Options{ResetDowntime: 50 * time.Millisecond, Watch: time.Hour})
	m := newModem(t, halmodem.Config{Port: s.Path()})
	if _, err := m.Read(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := s.TTY()
	if err := m.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a reading after the reset", func() bool {
		_, err := m.Read(context.Background())
		return err == nil
	})
	if s.TTY() == before {
		t.Errorf("the modem came back under the same name %s", before)
	}
	log, err := simmodem.ReadLog(dirOf(s))
	if err != nil {
		t.Fatal(err)
	}
	i := slices.Index(log, "AT+CFUN=1,1")
	if i < 0 || !slices.Contains(log[i:], "ATE0") {
		t.Errorf("at.log %q: want AT+CFUN=1,1 and the set-up again after it", log)
	}
}

// The APN is written once: not at every reading, not when the port is
// opened again.
func TestAPNWrittenOnlyWhenItDiffers(t *testing.T) {
	s := startSim(t, simmodem.Options{})
	s.SetAPN("IP", "internet")
	m := newModem(t, halmodem.Config{Port: s.Path()})
	for range 2 {
		if _, err := m.Read(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	setState(t, s, simmodem.StateGone)
	m.Read(context.Background())
	setState(t, s, simmodem.StateRegistered)
	waitFor(t, "a reading after the modem came back", func() bool {
		r, err := m.Read(context.Background())
		return err == nil && str(r.APN) == "v-internet"
	})
	log, _ := simmodem.ReadLog(dirOf(s))
	writes := 0
	for _, c := range log {
		if strings.HasPrefix(c, "AT+CGDCONT=") {
			writes++
		}
	}
	if writes != 1 || s.APN() != "v-internet" {
		t.Errorf("%d APN writes, modem APN %q: want one write of v-internet", writes, s.APN())
	}
}

// The modem is found by its USB ids through sysfs: here a fake sysfs whose
// /dev entry points at the emulator's tty.
func TestFoundByUSBID(t *testing.T) {
	s := startSim(t, simmodem.Options{})
	root := t.TempDir()
	sys, dev := filepath.Join(root, "sys"), filepath.Join(root, "dev")
	usb := filepath.Join(sys, "devices/usb1/1-1")
	iface := filepath.Join(usb, "1-1:1.2")
	for _, d := range []string{filepath.Join(iface, "ttyUSB4"), filepath.Join(sys, "class/tty/ttyUSB4"), dev} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(usb, "idVendor"), []byte("2c7c\n"), 0o644)
	os.WriteFile(filepath.Join(usb, "idProduct"), []byte("0125\n"), 0o644)
	os.WriteFile(filepath.Join(iface, "bInterfaceNumber"), []byte("02\n"), 0o644)
	if err := os.Symlink(filepath.Join(iface, "ttyUSB4"), filepath.Join(sys, "class/tty/ttyUSB4/device")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(s.Path(), filepath.Join(dev, "ttyUSB4")); err != nil {
		t.Fatal(err)
	}
	m := newModem(t, halmodem.Config{SysRoot: sys, DevRoot: dev})
	r, err := m.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if str(r.Model) != "EC25" || !strings.Contains(m.String(), filepath.Join(dev, "ttyUSB4")) {
		t.Errorf("model %s, String %q", str(r.Model), m.String())
	}
}

// The poller carries out the watchdog's radio cycle on the real modem:
// the emulator logs AT+CFUN=0 then AT+CFUN=1.
func TestPollerRadioCycle(t *testing.T) {
	s := startSim(t, simmodem.Options{})
	m := newModem(t, halmodem.Config{Port: s.Path()})
	p := halmodem.StartPoller(context.Background(), m, halmodem.PollerOptions{Interval: time.Hour, RadioOffFor: 10 * time.Millisecond})
	defer p.Close()
	if smp := <-p.Readings(); smp.Err != nil {
		t.Fatal(smp.Err)
	}
	p.Do(halmodem.ActionRadioCycle)
	if res := <-p.Results(); res.Err != nil {
		t.Fatal(res.Err)
	}
	log, _ := simmodem.ReadLog(dirOf(s))
	off, on := slices.Index(log, "AT+CFUN=0"), slices.Index(log, "AT+CFUN=1")
	if off < 0 || on < off {
		t.Errorf("at.log %q: want AT+CFUN=0 then AT+CFUN=1", log)
	}
}

func TestATLogIsBounded(t *testing.T) {
	s := startSim(t, simmodem.Options{MaxLogBytes: 2048})
	m := newModem(t, halmodem.Config{Port: s.Path()})
	for range 10 {
		if _, err := m.Read(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"at.log", "at.log.1"} {
		fi, err := os.Stat(filepath.Join(dirOf(s), name))
		if err != nil || fi.Size() > 2048 {
			t.Errorf("%s: %v, %d bytes: want at most 2048", name, err, fi.Size())
		}
	}
	log, err := simmodem.ReadLog(dirOf(s))
	if err != nil || len(log) == 0 || log[len(log)-1] != "AT+QGPSLOC=2" {
		t.Errorf("ReadLog: %v, last %q", err, log[len(log)-1:])
	}
}

func TestCloseTwice(t *testing.T) {
	s, err := simmodem.Start(simmodem.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := os.Lstat(s.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the symlink survived Close: %v", err)
	}
	if _, err := simmodem.Start(simmodem.Options{}); err == nil {
		t.Error("Start without a directory succeeded")
	}
}
