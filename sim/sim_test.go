package sim

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loaxa/loaxa/hal"
	"github.com/loaxa/loaxa/internal/clock"
)

var start = time.Date(2025, 6, 1, 5, 30, 0, 0, time.UTC)

// poleLayout is the default wiring of agent/config: active-low relays.
func poleLayout() hal.Layout {
	return hal.Layout{
		Zones: map[string][]hal.PinConfig{
			"z1": {{Pin: "GPIO17", ActiveLow: true}},
			"z2": {{Pin: "GPIO27", ActiveLow: true}},
		},
		Amp: hal.PinConfig{Pin: "GPIO5", ActiveLow: true},
		Inputs: map[string]hal.PinConfig{
			"tamper": {Pin: "GPIO24", Pull: "up"},
			"mains":  {Pin: "GPIO25", Pull: "down"},
			"fault":  {Pin: "GPIO6", ActiveLow: true, Pull: "up"},
		},
	}
}

func newSim(t *testing.T, dir string, l hal.Layout) (*Hardware, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(start)
	h, err := NewHardware(dir, l, clk)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h, clk
}

// dirs runs a test both with a directory and purely in memory.
func dirs(t *testing.T) map[string]func() string {
	return map[string]func() string{
		"dir":       t.TempDir,
		"in-memory": func() string { return "" },
	}
}

func TestPolarity(t *testing.T) {
	tests := []struct {
		name      string
		activeLow bool
		on        bool
		wantLevel int
	}{
		{"active-low on", true, true, 0},
		{"active-low off after on", true, false, 1},
		{"active-high on", false, true, 1},
		{"active-high off after on", false, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := poleLayout()
			l.Zones["z1"][0].ActiveLow = tt.activeLow
			h, _ := newSim(t, "", l)
			z1 := h.HAL().Zones["z1"][0]
			if !tt.on {
				if err := z1.Set(true); err != nil {
					t.Fatal(err)
				}
			}
			if err := z1.Set(tt.on); err != nil {
				t.Fatal(err)
			}
			trs := h.Transitions()
			last := trs[len(trs)-1]
			if last.On != tt.on || last.Level != tt.wantLevel || last.Pin != "GPIO17" || last.Output != "zone z1" {
				t.Errorf("transition = %+v, want on=%v level=%d on GPIO17 zone z1", last, tt.on, tt.wantLevel)
			}
		})
	}
}

func TestFirstSet(t *testing.T) {
	tests := []struct {
		name            string
		first           bool
		wantTransitions int
	}{
		// An undriven line leaves the relay released: driving it off does
		// not click, driving it on does.
		{"first set on", true, 1},
		{"first set off", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, clk := newSim(t, t.TempDir(), poleLayout())
			if on, driven := h.Level("GPIO5"); on || driven {
				t.Fatalf("fresh amp: on=%v driven=%v, want neither", on, driven)
			}
			clk.Advance(time.Minute)
			if err := h.HAL().Amp.Set(tt.first); err != nil {
				t.Fatal(err)
			}
			if on, driven := h.Level("GPIO5"); on != tt.first || !driven {
				t.Errorf("after Set(%v): on=%v driven=%v", tt.first, on, driven)
			}
			trs := h.Transitions()
			if len(trs) != tt.wantTransitions {
				t.Fatalf("transitions = %+v, want %d", trs, tt.wantTransitions)
			}
			if len(trs) == 1 && (!trs[0].Time.Equal(start.Add(time.Minute)) || trs[0].Output != "amp") {
				t.Errorf("transition %+v: want the fake clock's time and output amp", trs[0])
			}
		})
	}
}

func TestSameLevelRecordsNothing(t *testing.T) {
	for name, dir := range dirs(t) {
		t.Run(name, func(t *testing.T) {
			h, _ := newSim(t, dir(), poleLayout())
			z := h.HAL().Zones["z2"][0]
			for _, on := range []bool{true, true, true, false, false, true} {
				if err := z.Set(on); err != nil {
					t.Fatal(err)
				}
			}
			var got []bool
			for _, tr := range h.Transitions() {
				got = append(got, tr.On)
			}
			if fmt.Sprint(got) != "[true false true]" {
				t.Errorf("transitions %v, want [true false true]", got)
			}
		})
	}
}

func TestLatchAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	h1, _ := newSim(t, dir, poleLayout())
	hw := h1.HAL()
	for _, o := range []hal.Output{hw.Amp, hw.Zones["z1"][0]} {
		if err := o.Set(true); err != nil {
			t.Fatal(err)
		}
	}
	if err := hw.Zones["z2"][0].Set(false); err != nil {
		t.Fatal(err)
	}

	// The agent restarts with power_on = "restore".
	h2, _ := newSim(t, dir, poleLayout())
	if on, driven := h2.Level("GPIO17"); !on || !driven {
		t.Fatalf("after restart z1: on=%v driven=%v, want latched on", on, driven)
	}
	hw2 := h2.HAL()
	for _, step := range []struct {
		o  hal.Output
		on bool
	}{{hw2.Amp, true}, {hw2.Zones["z1"][0], true}, {hw2.Zones["z2"][0], false}} {
		if err := step.o.Set(step.on); err != nil {
			t.Fatal(err)
		}
	}
	if trs := h2.Transitions(); len(trs) != 0 {
		t.Fatalf("restoring the latched levels made transitions %+v, want none", trs)
	}
	// A real change after the restart is exactly one transition.
	if err := hw2.Zones["z1"][0].Set(false); err != nil {
		t.Fatal(err)
	}
	if trs := h2.Transitions(); len(trs) != 1 || trs[0].On || trs[0].Pin != "GPIO17" {
		t.Fatalf("transitions %+v, want z1 off once", trs)
	}

	all, err := ReadTransitions(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tr := range all {
		got = append(got, fmt.Sprintf("%s=%v/%d", tr.Pin, tr.On, tr.Level))
	}
	if want := "[GPIO5=true/0 GPIO17=true/0 GPIO17=false/1]"; fmt.Sprint(got) != want {
		t.Errorf("transitions.jsonl %v, want %s", got, want)
	}
	levels, err := ReadLevels(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := "map[GPIO17:false GPIO27:false GPIO5:true]"; fmt.Sprint(levels) != want {
		t.Errorf("levels %v, want %s", levels, want)
	}
}

func TestLatchFollowsElectricalLevel(t *testing.T) {
	// A technician fixes the polarity in the config between two runs: the
	// line still holds its electrical level, so the relay's state is read
	// from that, not from the old logical value.
	dir := t.TempDir()
	h1, _ := newSim(t, dir, poleLayout())
	if err := h1.HAL().Zones["z1"][0].Set(true); err != nil { // line low
		t.Fatal(err)
	}
	l := poleLayout()
	l.Zones["z1"][0].ActiveLow = false
	h2, _ := newSim(t, dir, l)
	if on, driven := h2.Level("GPIO17"); on || !driven {
		t.Errorf("low line on an active-high relay: on=%v driven=%v, want off and driven", on, driven)
	}
}

func TestHaltReleases(t *testing.T) {
	h, _ := newSim(t, "", poleLayout())
	hw := h.HAL()
	if err := hw.Amp.Set(true); err != nil {
		t.Fatal(err)
	}
	if err := hw.Halt(); err != nil {
		t.Fatal(err)
	}
	for _, pin := range []string{"GPIO5", "GPIO17", "GPIO27"} {
		if on, driven := h.Level(pin); on || !driven {
			t.Errorf("%s after Halt: on=%v driven=%v, want released and driven", pin, on, driven)
		}
	}
	if trs := h.Transitions(); len(trs) != 2 || trs[1].On {
		t.Errorf("transitions %+v, want amp on then off", trs)
	}
}

func TestOnTransition(t *testing.T) {
	h, _ := newSim(t, "", poleLayout())
	var seen []Transition
	h.OnTransition(func(tr Transition) {
		// Synchronous: the transition is already recorded when we are told.
		if n := len(h.Transitions()); n != len(seen)+1 {
			t.Errorf("callback saw %d recorded transitions, want %d", n, len(seen)+1)
		}
		seen = append(seen, tr)
	})
	z := h.HAL().Zones["z1"][0]
	for _, on := range []bool{true, true, false} {
		if err := z.Set(on); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) != 2 {
		t.Errorf("callback called %d times, want 2", len(seen))
	}
}

func TestOutputError(t *testing.T) {
	h, _ := newSim(t, "", poleLayout())
	broken := errors.New("relay driver burnt")
	if err := h.SetOutputError("GPIO17", broken); err != nil {
		t.Fatal(err)
	}
	z := h.HAL().Zones["z1"][0]
	if err := z.Set(true); !errors.Is(err, broken) || !strings.Contains(err.Error(), "GPIO17") {
		t.Fatalf("Set on a broken output: %v", err)
	}
	if on, _ := h.Level("GPIO17"); on || len(h.Transitions()) != 0 {
		t.Fatal("a failed Set changed the line")
	}
	if err := h.SetOutputError("GPIO17", nil); err != nil {
		t.Fatal(err)
	}
	if err := z.Set(true); err != nil {
		t.Fatal(err)
	}
	if err := h.SetOutputError("GPIO99", broken); err == nil {
		t.Error("SetOutputError on an unknown pin succeeded")
	}
}

func TestInputs(t *testing.T) {
	for name, dir := range dirs(t) {
		t.Run(name, func(t *testing.T) {
			h, _ := newSim(t, dir(), poleLayout())
			ins := h.HAL().Inputs
			read := func(n string) bool {
				t.Helper()
				v, err := ins[n].Read()
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
			// A healthy pole: door closed, mains present, no fault.
			if read("tamper") || !read("mains") || read("fault") {
				t.Fatalf("defaults: tamper=%v mains=%v fault=%v", read("tamper"), read("mains"), read("fault"))
			}
			if err := h.SetInput("tamper", true); err != nil {
				t.Fatal(err)
			}
			if err := h.SetInput("mains", false); err != nil {
				t.Fatal(err)
			}
			if !read("tamper") || read("mains") {
				t.Errorf("after SetInput: tamper=%v mains=%v", read("tamper"), read("mains"))
			}
			if err := h.SetInput("door", true); err == nil || !strings.Contains(err.Error(), "tamper") {
				t.Errorf("SetInput of an unknown input: %v, want an error listing the inputs", err)
			}
		})
	}
}

func TestInputControlFiles(t *testing.T) {
	tests := []struct {
		name    string
		content *string // nil: remove the file
		input   string
		want    bool
		wantErr bool
	}{
		{name: "echo 1", content: ptr("1\n"), input: "tamper", want: true},
		{name: "printf 0", content: ptr("0"), input: "mains", want: false},
		{name: "true", content: ptr("true\n"), input: "fault", want: true},
		{name: "missing tamper is closed", input: "tamper", want: false},
		{name: "missing mains is present", input: "mains", want: true},
		{name: "garbage", content: ptr("open\n"), input: "tamper", wantErr: true},
		{name: "empty", content: ptr(""), input: "tamper", wantErr: true},
		{name: "binary", content: ptr("\x00\xff\x01"), input: "mains", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			h, _ := newSim(t, dir, poleLayout())
			path := filepath.Join(dir, "inputs", tt.input)
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("control file not created at start: %v", err)
			}
			// Read once first: a level read before is not kept past a change.
			if _, err := h.HAL().Inputs[tt.input].Read(); err != nil {
				t.Fatal(err)
			}
			if tt.content == nil {
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
			} else if err := os.WriteFile(path, []byte(*tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := h.HAL().Inputs[tt.input].Read()
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), path) {
					t.Fatalf("Read = %v, %v; want an error naming %s", got, err, path)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Read = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSetInputKeepsPersonsFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "inputs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "inputs", "tamper"), []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h, _ := newSim(t, dir, poleLayout())
	if v, err := h.HAL().Inputs["tamper"].Read(); err != nil || !v {
		t.Fatalf("tamper = %v, %v: NewHardware overwrote a control file", v, err)
	}
}

func TestTemperature(t *testing.T) {
	dir := t.TempDir()
	h, _ := newSim(t, dir, poleLayout())
	b := h.HAL().Board
	temp := func() (float64, error) { return b.CPUTemp() }
	if c, err := temp(); err != nil || c != 45 {
		t.Fatalf("default temp %v, %v; want 45", c, err)
	}
	h.SetTemp(71.5)
	if c, _ := temp(); c != 71.5 {
		t.Errorf("after SetTemp: %v", c)
	}
	path := filepath.Join(dir, "temp")
	for content, want := range map[string]float64{"83.25\n": 83.25, "-4": -4} {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if c, err := temp(); err != nil || c != want {
			t.Errorf("temp file %q: %v, %v; want %v", content, c, err, want)
		}
	}
	for _, garbage := range []string{"hot", "", "NaN", "1e999"} {
		if err := os.WriteFile(path, []byte(garbage), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := temp(); err == nil {
			t.Errorf("temp file %q: no error", garbage)
		}
	}
}

func TestReboot(t *testing.T) {
	for name, dir := range dirs(t) {
		t.Run(name, func(t *testing.T) {
			d := dir()
			h, _ := newSim(t, d, poleLayout())
			for range 2 {
				if err := h.HAL().Board.Reboot(); err != nil {
					t.Fatal(err)
				}
			}
			if h.Reboots() != 2 {
				t.Errorf("Reboots = %d, want 2", h.Reboots())
			}
			if d == "" {
				return
			}
			if n, err := ReadReboots(d); err != nil || n != 2 {
				t.Errorf("ReadReboots = %d, %v; want 2", n, err)
			}
		})
	}
}

func TestBadLayout(t *testing.T) {
	tests := map[string]func(*hal.Layout){
		"pin used twice": func(l *hal.Layout) { l.Amp.Pin = "GPIO17" },
		"no amp pin":     func(l *hal.Layout) { l.Amp.Pin = "" },
		"input escapes":  func(l *hal.Layout) { l.Inputs["../gpio.json"] = hal.PinConfig{Pin: "GPIO4"} },
		"hidden input":   func(l *hal.Layout) { l.Inputs[".x"] = hal.PinConfig{Pin: "GPIO4"} },
		"bad pull":       func(l *hal.Layout) { l.Inputs["x"] = hal.PinConfig{Pin: "GPIO4", Pull: "sideways"} },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			l := poleLayout()
			mutate(&l)
			if _, err := NewHardware(t.TempDir(), l, nil); err == nil {
				t.Fatal("NewHardware accepted the layout")
			}
		})
	}
}

func TestBadFiles(t *testing.T) {
	tests := []struct {
		name, file, content string
		read                func(dir string) error
	}{
		{"garbage levels", "gpio.json", "{", func(d string) error { _, err := NewHardware(d, poleLayout(), nil); return err }},
		{"future levels", "gpio.json", `{"version":9,"pins":{}}`, func(d string) error { _, err := ReadLevels(d); return err }},
		{"level 2", "gpio.json", `{"version":1,"pins":{"GPIO17":{"on":true,"level":2}}}`, func(d string) error { _, err := NewHardware(d, poleLayout(), nil); return err }},
		{"garbage transition", "transitions.jsonl", "{\"pin\":\"GPIO5\"}\nnot json\n", func(d string) error { _, err := ReadTransitions(d); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, tt.file), []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := tt.read(dir); err == nil || !strings.Contains(err.Error(), tt.file) {
				t.Fatalf("err = %v, want an error naming %s", err, tt.file)
			}
		})
	}
}

func TestReadTransitionsSkipsTornLine(t *testing.T) {
	dir := t.TempDir()
	content := `{"pin":"GPIO5","output":"amp","on":true,"level":0}` + "\n" + `{"pin":"GPIO17","out`
	if err := os.WriteFile(filepath.Join(dir, "transitions.jsonl"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	trs, err := ReadTransitions(dir)
	if err != nil || len(trs) != 1 || trs[0].Output != "amp" {
		t.Fatalf("ReadTransitions = %+v, %v; want the one complete line", trs, err)
	}
	if trs, err := ReadTransitions(t.TempDir()); err != nil || len(trs) != 0 {
		t.Fatalf("empty dir: %v, %v", trs, err)
	}
}

func TestStrings(t *testing.T) {
	h, _ := newSim(t, "", poleLayout())
	hw := h.HAL()
	for got, want := range map[string]string{
		hw.Zones["z1"][0].String():   "GPIO17 (sim, active-low)",
		hw.Inputs["tamper"].String(): "GPIO24 (sim, pull-up)",
		hw.Board.String():            "sim board",
	} {
		if got != want {
			t.Errorf("String = %q, want %q", got, want)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	h, _ := newSim(t, t.TempDir(), poleLayout())
	hw := h.HAL()
	var wg sync.WaitGroup
	for _, o := range []hal.Output{hw.Amp, hw.Zones["z1"][0], hw.Zones["z2"][0]} {
		wg.Go(func() {
			for i := range 20 {
				if err := o.Set(i%2 == 0); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			h.Transitions()
			h.Level("GPIO5")
			if _, err := hw.Inputs["tamper"].Read(); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	if n := len(h.Transitions()); n != 60 {
		t.Errorf("%d transitions, want 60", n)
	}
	if all, err := ReadTransitions(h.dir); err != nil || len(all) != 60 {
		t.Errorf("transitions.jsonl holds %d, %v; want 60", len(all), err)
	}
}

func ptr(s string) *string { return &s }

func BenchmarkSetInMemory(b *testing.B) {
	h, err := NewHardware("", poleLayout(), clock.NewFake(start))
	if err != nil {
		b.Fatal(err)
	}
	z := h.HAL().Zones["z1"][0]
	for i := 0; b.Loop(); i++ {
		if err := z.Set(i%2 == 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSetWithDir(b *testing.B) {
	h, err := NewHardware(b.TempDir(), poleLayout(), clock.NewFake(start))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.Close() })
	z := h.HAL().Zones["z1"][0]
	for i := 0; b.Loop(); i++ {
		if err := z.Set(i%2 == 0); err != nil {
			b.Fatal(err)
		}
	}
}

// The simulated clock is synchronised unless DIR/clock says "unsynced";
// nonsense in the file is an error (the agent treats that as unsynced).
func TestSimClockStatus(t *testing.T) {
	dir := t.TempDir()
	h, err := NewHardware(dir, poleLayout(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	clk := h.HAL().Clock
	for _, tc := range []struct {
		file   string
		synced bool
		err    bool
	}{
		{"", true, false},
		{"unsynced\n", false, false},
		{"synced\n", true, false},
		{"maybe", false, true},
	} {
		if tc.file != "" {
			if err := os.WriteFile(filepath.Join(dir, ClockFile), []byte(tc.file), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		st, err := clk.ClockStatus()
		if st.Synced != tc.synced || (err != nil) != tc.err || st.Source != "sim" {
			t.Errorf("clock file %q: %+v, %v", tc.file, st, err)
		}
	}
}
