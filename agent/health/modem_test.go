package health

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loaxa/loaxa/hal"
	halmodem "github.com/loaxa/loaxa/hal/modem"
)

type reading struct {
	at  time.Duration
	r   hal.ModemReading
	err error
}

func ok(reg hal.Registration, sim hal.SIMState, rsrp float64) hal.ModemReading {
	return hal.ModemReading{Registration: &reg, SIM: &sim, RSRPdBm: &rsrp}
}

var timeout = fmt.Errorf("modem: AT+CPIN?: no final result code within 3s: %w", halmodem.ErrTimeout)

func TestModemAlarms(t *testing.T) {
	p := DefaultModemPolicy()
	home, searching := hal.RegHome, hal.RegSearching
	tests := []struct {
		name     string
		readings []reading
		// want: the active alarms after each reading, "|"-joined names
		want []string
	}{
		{"healthy", []reading{{0, ok(home, hal.SIMReady, -90), nil}}, []string{""}},
		{"no SIM: raised at once, no unregistered alarm beside it", []reading{
			{0, ok(hal.RegNotRegistered, hal.SIMAbsent, -90), nil},
			{5 * time.Minute, ok(hal.RegNotRegistered, hal.SIMAbsent, -90), nil},
			{6 * time.Minute, ok(home, hal.SIMReady, -90), nil},
		}, []string{"modem.no_sim", "modem.no_sim", ""}},
		{"unregistered after two minutes, cleared when registered", []reading{
			{0, ok(searching, hal.SIMReady, -100), nil},
			{time.Minute, ok(searching, hal.SIMReady, -100), nil},
			{2 * time.Minute, ok(hal.RegDenied, hal.SIMReady, -100), nil},
			{3 * time.Minute, ok(home, hal.SIMReady, -100), nil},
			{4 * time.Minute, ok(searching, hal.SIMReady, -100), nil}, // the clock starts again
		}, []string{"", "", "modem.unregistered", "", ""}},
		{"unresponsive after three failures; other alarms kept meanwhile", []reading{
			{0, ok(home, hal.SIMReady, -115), nil},
			{time.Minute, ok(home, hal.SIMReady, -115), nil},
			{2 * time.Minute, hal.ModemReading{}, timeout},
			{3 * time.Minute, hal.ModemReading{}, timeout},
			{4 * time.Minute, hal.ModemReading{}, fmt.Errorf("modem: %w", halmodem.ErrPortMissing)},
			{5 * time.Minute, ok(home, hal.SIMReady, -90), nil},
		}, []string{"", "modem.weak_signal", "modem.weak_signal", "modem.weak_signal", "modem.unresponsive|modem.weak_signal", ""}},
		{"weak signal: two readings to raise, 3 dB above to clear", []reading{
			{0, ok(home, hal.SIMReady, -111), nil},
			{time.Minute, ok(home, hal.SIMReady, -109), nil}, // not twice in a row
			{2 * time.Minute, ok(home, hal.SIMReady, -111), nil},
			{3 * time.Minute, ok(home, hal.SIMReady, -112), nil},
			{4 * time.Minute, ok(home, hal.SIMReady, -108), nil}, // within 3 dB
			{5 * time.Minute, ok(home, hal.SIMReady, -107), nil},
		}, []string{"", "", "", "modem.weak_signal", "modem.weak_signal", ""}},
		{"no modem on this board: nothing", []reading{
			{0, hal.ModemReading{}, fmt.Errorf("modem: no tty: %w", hal.ErrAbsent)},
			{time.Hour, hal.ModemReading{}, fmt.Errorf("modem: no tty: %w", hal.ErrAbsent)},
			{2 * time.Hour, hal.ModemReading{}, fmt.Errorf("modem: no tty: %w", hal.ErrAbsent)},
		}, []string{"", "", ""}},
		{"unknown values leave their alarms", []reading{
			{0, ok(hal.RegNotRegistered, hal.SIMLocked, -90), nil},
			{time.Minute, hal.ModemReading{}, nil},
		}, []string{"modem.no_sim", "modem.no_sim"}},
	}
	t0 := time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewModemAlarms(p)
			for i, rd := range tt.readings {
				active := m.Update(t0.Add(rd.at), rd.r, rd.err)
				got := strings.Join(slices.Sorted(maps.Keys(active)), "|")
				if got != tt.want[i] {
					t.Fatalf("after reading %d: active %q, want %q (%v)", i, got, tt.want[i], active)
				}
			}
		})
	}
}

// A detail does not change while its alarm stays, so the agent sends one
// alarm event, not one per reading.
func TestModemAlarmDetailsAreStable(t *testing.T) {
	m := NewModemAlarms(DefaultModemPolicy())
	t0 := time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC)
	var details []string
	for i := range 6 {
		rsrp := -111 - float64(i)
		a := m.Update(t0.Add(time.Duration(i)*time.Minute), ok(hal.RegSearching, hal.SIMReady, rsrp), nil)
		details = append(details, a[AlarmWeakSignal]+"/"+a[AlarmUnregistered])
	}
	for i := 3; i < len(details); i++ {
		if details[i] != details[i-1] {
			t.Errorf("detail changed between readings %d and %d: %q → %q", i-1, i, details[i-1], details[i])
		}
	}
	for i := range 4 {
		m.Update(t0.Add(time.Hour+time.Duration(i)*time.Minute), hal.ModemReading{}, errors.New(strings.Repeat("x", i+1)))
	}
	if d := m.Active()[AlarmUnresponsive]; !strings.Contains(d, "3 readings") {
		t.Errorf("unresponsive detail %q: set when raised, not updated", d)
	}
}

func TestModemPolicyCheck(t *testing.T) {
	if err := DefaultModemPolicy().Check(); err != nil {
		t.Fatal(err)
	}
	p := DefaultModemPolicy()
	p.WeakRSRPdBm = -30
	if err := p.Check(); err == nil || !strings.Contains(err.Error(), "modem.weak_rsrp_dbm") {
		t.Errorf("Check = %v", err)
	}
	p = DefaultModemPolicy()
	p.UnregisteredAfter = time.Second
	if err := p.Check(); err == nil || !strings.Contains(err.Error(), "modem.unregistered_s") {
		t.Errorf("Check = %v", err)
	}
}
