package health

import (
	"strings"
	"testing"
)

func TestThermalLevels(t *testing.T) {
	p := Thermal{WarningC: 75, CriticalC: 82, HysteresisC: 5, CriticalVolume: 50}
	// A day in a cabinet: temperatures in order, the level after each.
	steps := []struct {
		temp *float64
		want ThermalLevel
	}{
		{c(50), ThermalNormal},
		{c(74.9), ThermalNormal},
		{c(75), ThermalWarning},
		{c(72), ThermalWarning}, // within the hysteresis
		{c(70.1), ThermalWarning},
		{c(70), ThermalNormal}, // 5 °C below
		{c(76), ThermalWarning},
		{c(82), ThermalCritical},
		{nil, ThermalCritical}, // the sensor failed: keep the cap
		{c(78), ThermalCritical},
		{c(77), ThermalWarning}, // below critical − hysteresis, still above warning
		{c(90), ThermalCritical},
		{c(40), ThermalNormal}, // straight down
		{nil, ThermalNormal},
	}
	level := ThermalNormal
	for i, s := range steps {
		level = p.Next(level, s.temp)
		if level != s.want {
			t.Fatalf("step %d (%v °C): level %v, want %v", i, fmtC(s.temp), level, s.want)
		}
	}
}

func TestThermalVolumeCap(t *testing.T) {
	p := DefaultThermal()
	for _, tt := range []struct {
		level     ThermalLevel
		vol, want int
	}{
		{ThermalNormal, 90, 90},
		{ThermalWarning, 90, 90},
		{ThermalCritical, 90, 50},
		{ThermalCritical, 30, 30},
	} {
		if got := p.Volume(tt.level, tt.vol); got != tt.want {
			t.Errorf("Volume(%v, %d) = %d, want %d", tt.level, tt.vol, got, tt.want)
		}
	}
	if ThermalWarning.Alarm() != "temp_warning" || ThermalCritical.Alarm() != "temp_critical" || ThermalNormal.Alarm() != "" {
		t.Error("alarm names")
	}
}

func TestThermalCheck(t *testing.T) {
	if err := DefaultThermal().Check(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		p    Thermal
		want string
	}{
		{Thermal{WarningC: 30, CriticalC: 82, HysteresisC: 5}, "health.temp_warning_c"},
		{Thermal{WarningC: 80, CriticalC: 80, HysteresisC: 5}, "health.temp_critical_c"},
		{Thermal{WarningC: 75, CriticalC: 82, HysteresisC: 0}, "health.temp_hysteresis_c"},
		{Thermal{WarningC: 75, CriticalC: 82, HysteresisC: 5, CriticalVolume: 101}, "health.critical_volume"},
	} {
		if err := tt.p.Check(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Check(%+v) = %v, want an error naming %s", tt.p, err, tt.want)
		}
	}
}

func c(v float64) *float64 { return &v }

func fmtC(p *float64) any {
	if p == nil {
		return "no reading"
	}
	return *p
}
