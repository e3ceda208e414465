package sim_test

import (
	"fmt"
	"time"

	"github.com/loaxa/loaxa/hal"
	"github.com/loaxa/loaxa/internal/clock"
	"github.com/loaxa/loaxa/sim"
)

func ExampleNewHardware() {
	layout := hal.Layout{
		Zones:  map[string][]hal.PinConfig{"z1": {{Pin: "GPIO17", ActiveLow: true}}},
		Amp:    hal.PinConfig{Pin: "GPIO5", ActiveLow: true},
		Inputs: map[string]hal.PinConfig{"tamper": {Pin: "GPIO24", Pull: "up"}},
	}
	clk := clock.NewFake(time.Date(2025, 6, 1, 5, 30, 0, 0, time.UTC))
	h, err := sim.NewHardware("", layout, clk) // "" keeps everything in memory
	if err != nil {
		panic(err)
	}
	hw := h.HAL()

	// Amplifier first, zones once it has settled: its power-on thump reaches
	// no speaker.
	hw.Amp.Set(true)
	clk.Advance(500 * time.Millisecond)
	hw.Zones["z1"][0].Set(true)
	hw.Zones["z1"][0].Set(true) // already on: no transition

	h.SetInput("tamper", true)
	open, _ := hw.Inputs["tamper"].Read()

	for _, tr := range h.Transitions() {
		fmt.Println(tr.Time.Format("15:04:05.000"), tr.Output, tr.Pin, tr.On, "level", tr.Level)
	}
	fmt.Println("door open:", open)
	// Output:
	// 05:30:00.000 amp GPIO5 true level 0
	// 05:30:00.500 zone z1 GPIO17 true level 0
	// door open: true
}
