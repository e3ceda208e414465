package gpio

import (
	"errors"
	"strings"
	"testing"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/host/v3"

	"github.com/loaxa/loaxa/hal"
)

// recPin is a working fake line that also remembers every Out and In call,
// so a test can tell "never written" from "written with the level it had".
type recPin struct {
	gpiotest.Pin
	outs  []gpio.Level
	ins   []gpio.Pull
	inErr error
}

func newRecPin(name string, l gpio.Level) *recPin {
	return &recPin{Pin: gpiotest.Pin{N: name, L: l}}
}

func (p *recPin) Out(l gpio.Level) error {
	p.outs = append(p.outs, l)
	return p.Pin.Out(l)
}

func (p *recPin) In(pull gpio.Pull, edge gpio.Edge) error {
	if p.inErr != nil {
		return p.inErr
	}
	p.ins = append(p.ins, pull)
	return p.Pin.In(pull, edge)
}

func TestOutputPolarity(t *testing.T) {
	tests := []struct {
		name      string
		activeLow bool
		on        bool
		want      gpio.Level
	}{
		{"active-high on", false, true, gpio.High},
		{"active-high off", false, false, gpio.Low},
		{"active-low on", true, true, gpio.Low},
		{"active-low off", true, false, gpio.High},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Start from the opposite level so a missing write shows.
			p := newRecPin("GPIO17", !tt.want)
			o := NewOutput(p, tt.activeLow)
			if err := o.Set(tt.on); err != nil {
				t.Fatal(err)
			}
			if p.Read() != tt.want {
				t.Errorf("Set(%v) left the line %v, want %v", tt.on, p.Read(), tt.want)
			}
		})
	}
}

func TestOutputDoesNotTouchPinBeforeFirstSet(t *testing.T) {
	for _, activeLow := range []bool{false, true} {
		t.Run(describe(newRecPin("GPIO5", gpio.High), activeLow), func(t *testing.T) {
			// A line still floating at its boot-time pull-up.
			p := newRecPin("GPIO5", gpio.High)
			o := NewOutput(p, activeLow)
			_ = o.String()
			if len(p.outs) != 0 || len(p.ins) != 0 {
				t.Fatalf("NewOutput wrote the line before Set: outs %v, ins %v", p.outs, p.ins)
			}
			if err := o.Set(true); err != nil {
				t.Fatal(err)
			}
			want := gpio.Level(!activeLow)
			if len(p.outs) != 1 || p.outs[0] != want {
				t.Fatalf("first Set(true) wrote %v, want exactly [%v]", p.outs, want)
			}
		})
	}
}

func TestOutputHaltReleasesRelay(t *testing.T) {
	for _, activeLow := range []bool{false, true} {
		p := newRecPin("GPIO27", gpio.Low)
		o := NewOutput(p, activeLow)
		if err := o.Set(true); err != nil {
			t.Fatal(err)
		}
		if err := o.Halt(); err != nil {
			t.Fatal(err)
		}
		if got, want := p.Read(), gpio.Level(activeLow); got != want {
			t.Errorf("activeLow=%v: Halt left the line %v, want %v (relay released)", activeLow, got, want)
		}
	}
}

type failOutPin struct{ gpiotest.Pin }

func (*failOutPin) Out(gpio.Level) error { return errors.New("EBUSY") }

func TestOutputSetErrorNamesPin(t *testing.T) {
	o := NewOutput(&failOutPin{gpiotest.Pin{N: "GPIO22"}}, true)
	err := o.Set(true)
	if err == nil || !strings.Contains(err.Error(), "GPIO22 (active-low)") || !strings.Contains(err.Error(), "EBUSY") {
		t.Fatalf("Set error = %v, want it to name the pin and the cause", err)
	}
}

func TestString(t *testing.T) {
	if got := NewOutput(newRecPin("GPIO17", gpio.Low), true).String(); got != "GPIO17 (active-low)" {
		t.Errorf("active-low output String = %q", got)
	}
	if got := NewOutput(newRecPin("GPIO17", gpio.Low), false).String(); got != "GPIO17" {
		t.Errorf("active-high output String = %q", got)
	}
}

func TestInput(t *testing.T) {
	tests := []struct {
		name      string
		activeLow bool
		pull      string
		wantPull  gpio.Pull
		line      gpio.Level
		want      bool
	}{
		{"door open reads high", false, "up", gpio.PullUp, gpio.High, true},
		{"door closed reads low", false, "up", gpio.PullUp, gpio.Low, false},
		{"mains present", false, "down", gpio.PullDown, gpio.High, true},
		{"active-low asserted", true, "none", gpio.Float, gpio.Low, true},
		{"active-low idle", true, "", gpio.PullNoChange, gpio.High, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newRecPin("GPIO24", !tt.line)
			in, err := NewInput(p, tt.activeLow, tt.pull)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.ins) != 1 || p.ins[0] != tt.wantPull {
				t.Errorf("configured with pulls %v, want [%v]", p.ins, tt.wantPull)
			}
			p.Lock()
			p.L = tt.line
			p.Unlock()
			got, err := in.Read()
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Read with line %v = %v, want %v", tt.line, got, tt.want)
			}
		})
	}
}

func TestInputErrors(t *testing.T) {
	if _, err := NewInput(newRecPin("GPIO24", gpio.Low), false, "sideways"); err == nil || !strings.Contains(err.Error(), "sideways") {
		t.Errorf("bad pull: err = %v, want it to quote the value", err)
	}
	p := newRecPin("GPIO24", gpio.Low)
	p.inErr = errors.New("permission denied")
	_, err := NewInput(p, false, "up")
	if err == nil || errors.Is(err, hal.ErrAbsent) {
		t.Errorf("failing In: err = %v, want a failure that is not ErrAbsent", err)
	}
}

func layout(pins ...string) hal.Layout {
	return hal.Layout{
		Zones:  map[string][]hal.PinConfig{"z1": {{Pin: pins[0], ActiveLow: true}}},
		Amp:    hal.PinConfig{Pin: pins[1], ActiveLow: true},
		Inputs: map[string]hal.PinConfig{"tamper": {Pin: pins[2], Pull: "up"}},
	}
}

func TestOpenAbsentOnThisHost(t *testing.T) {
	if _, err := host.Init(); err != nil {
		t.Fatal(err)
	}
	if gpioreg.ByName("GPIO17") != nil {
		t.Skip("this host has a GPIO17; the absent case cannot be shown here")
	}
	_, err := Open(layout("GPIO17", "GPIO5", "GPIO24"))
	if !errors.Is(err, hal.ErrAbsent) {
		t.Fatalf("Open on a host without GPIO lines: err = %v, want ErrAbsent", err)
	}
	if !strings.Contains(err.Error(), `"GPIO17"`) {
		t.Errorf("error %q does not name the missing pin", err)
	}
}

func TestOpen(t *testing.T) {
	failing := newRecPin("GPIO24", gpio.Low)
	failing.inErr = errors.New("line busy")
	tests := []struct {
		name       string
		pins       map[string]*recPin
		layout     hal.Layout
		wantAbsent bool
		wantErr    string
	}{
		{
			name:   "all present",
			pins:   map[string]*recPin{"GPIO17": newRecPin("GPIO17", gpio.Low), "GPIO5": newRecPin("GPIO5", gpio.High), "GPIO24": newRecPin("GPIO24", gpio.Low)},
			layout: layout("GPIO17", "GPIO5", "GPIO24"),
		},
		{
			name:       "one missing",
			pins:       map[string]*recPin{"GPIO17": newRecPin("GPIO17", gpio.Low), "GPIO24": newRecPin("GPIO24", gpio.Low)},
			layout:     layout("GPIO17", "GPIO99", "GPIO24"),
			wantAbsent: true, wantErr: `"GPIO99"`,
		},
		{
			name:    "present but failed",
			pins:    map[string]*recPin{"GPIO17": newRecPin("GPIO17", gpio.Low), "GPIO5": newRecPin("GPIO5", gpio.High), "GPIO24": failing},
			layout:  layout("GPIO17", "GPIO5", "GPIO24"),
			wantErr: "line busy",
		},
		{
			name:    "empty pin name is a config error",
			pins:    map[string]*recPin{"GPIO17": newRecPin("GPIO17", gpio.Low), "GPIO24": newRecPin("GPIO24", gpio.Low)},
			layout:  layout("GPIO17", "", "GPIO24"),
			wantErr: "amp",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			byName := func(n string) gpio.PinIO {
				if p, ok := tt.pins[n]; ok {
					return p
				}
				return nil
			}
			hw, err := open(tt.layout, byName, func() int { return len(tt.pins) })
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if hw.Board != nil || hw.Amp == nil || len(hw.Zones["z1"]) != 1 || hw.Inputs["tamper"] == nil {
					t.Fatalf("incomplete hardware: %+v", hw)
				}
				for name, p := range tt.pins {
					if len(p.outs) != 0 {
						t.Errorf("Open drove %s before any Set: %v", name, p.outs)
					}
				}
				if got, _ := hw.Inputs["tamper"].Read(); !got {
					t.Errorf("tamper with pull-up and nothing pulling it low reads %v, want asserted", got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one mentioning %s", err, tt.wantErr)
			}
			if got := errors.Is(err, hal.ErrAbsent); got != tt.wantAbsent {
				t.Errorf("errors.Is(err, ErrAbsent) = %v, want %v (err: %v)", got, tt.wantAbsent, err)
			}
		})
	}
}
