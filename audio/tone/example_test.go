package tone_test

import (
	"fmt"
	"time"

	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/audio/dsp"
	"github.com/loaxa/loaxa/audio/tone"
)

func ExampleNew() {
	f := audio.Format{Rate: 48000, Channels: 2}
	src := tone.New(1000, f, 0.5).For(100 * time.Millisecond)
	defer src.Close()

	buf := make([]int16, 48000*2)
	n, _ := src.Read(buf)
	fmt.Printf("%d frames, 1 kHz at %.2f of full scale, %.1f dBFS RMS\n",
		n/2, dsp.Goertzel(buf[:n], f, 1000), dsp.Level(buf[:n]))
	// Output:
	// 4800 frames, 1 kHz at 0.50 of full scale, -9.0 dBFS RMS
}
