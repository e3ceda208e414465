package health_test

import (
	"fmt"

	"github.com/loaxa/loaxa/agent/health"
)

func ExampleThermal_Next() {
	p := health.DefaultThermal() // warning 75 °C, critical 82 °C, 5 °C hysteresis
	level := health.ThermalNormal
	for _, c := range []float64{70, 83, 79, 76, 74, 69} {
		level = p.Next(level, &c)
		fmt.Printf("%.0f °C: %s, volume 90 plays at %d\n", c, level, p.Volume(level, 90))
	}
	// Output:
	// 70 °C: normal, volume 90 plays at 90
	// 83 °C: critical, volume 90 plays at 50
	// 79 °C: critical, volume 90 plays at 50
	// 76 °C: warning, volume 90 plays at 90
	// 74 °C: warning, volume 90 plays at 90
	// 69 °C: normal, volume 90 plays at 90
}
