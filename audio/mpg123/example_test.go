package mpg123_test

import (
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"slices"

	"github.com/loaxa/loaxa/audio/mpg123"
)

// A Reader decodes a whole file or HTTP body.
func ExampleReader() {
	f, err := os.Open("testdata/seed.mp3")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	r, err := mpg123.NewReader(f)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()

	rate, channels := r.Format()
	buf := make([]int16, 4096)
	total := 0
	for {
		n, err := r.Read(buf)
		total += n // play buf[:n] here
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
	}
	fmt.Printf("%d Hz, %d channel(s), %d samples: %.2f s\n", rate, channels, total, float64(total/channels)/float64(rate))
	// Output: 22050 Hz, 1 channel(s), 11025 samples: 0.50 s
}

// A Decoder takes input in whatever chunks the network delivers.
func ExampleDecoder() {
	mp3, err := os.ReadFile("testdata/seed.mp3")
	if err != nil {
		log.Fatal(err)
	}
	d, err := mpg123.NewDecoder()
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()

	out := make([]int16, 4096)
	total := 0
	for chunk := range slices.Chunk(mp3, 1000) { // as if from an HTTP stream
		if err := d.Feed(chunk); err != nil {
			log.Fatal(err)
		}
		for {
			n, err := d.Decode(out)
			total += n // play out[:n] here
			if errors.Is(err, mpg123.ErrNeedMore) {
				break // wait for the next chunk
			}
			if errors.Is(err, mpg123.ErrNewFormat) {
				rate, channels, _ := d.Format()
				fmt.Printf("format: %d Hz, %d channel(s)\n", rate, channels)
				continue
			}
			if err != nil {
				log.Fatal(err)
			}
		}
	}
	fmt.Printf("%d samples\n", total)
	// Output:
	// format: 22050 Hz, 1 channel(s)
	// 11025 samples
}
