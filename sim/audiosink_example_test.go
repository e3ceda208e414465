package sim_test

import (
	"fmt"
	"time"

	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/audio/dsp"
	"github.com/loaxa/loaxa/audio/tone"
	"github.com/loaxa/loaxa/internal/clock"
	"github.com/loaxa/loaxa/sim"
)

func ExampleNewAudioSink() {
	f := audio.Format{Rate: 48000, Channels: 2}
	clk := clock.NewFake(time.Date(2025, 6, 1, 5, 30, 0, 0, time.UTC))
	// NoPacing: the test does not have to advance the clock for Write to
	// return. Path: "" keeps the audio in memory only.
	speaker, err := sim.NewAudioSink(f, sim.AudioSinkOptions{Clock: clk, NoPacing: true})
	if err != nil {
		panic(err)
	}
	defer speaker.Close()

	clk.Advance(120 * time.Millisecond) // the command arrived at 05:30:00
	src := tone.New(1000, f, 0.5).For(200 * time.Millisecond)
	buf := make([]int16, 960*2)
	for {
		n, err := src.Read(buf)
		if err != nil {
			break
		}
		speaker.Write(buf[:n])
	}

	first, _ := speaker.FirstSampleAt()
	_, played := speaker.Samples()
	fmt.Println("first sample at", first.Format("15:04:05.000"))
	fmt.Printf("%d frames, 1 kHz at %.2f of full scale, %d underruns\n",
		speaker.Frames(), dsp.Goertzel(played, f, 1000), speaker.Underruns())
	// Output:
	// first sample at 05:30:00.120
	// 9600 frames, 1 kHz at 0.50 of full scale, 0 underruns
}
