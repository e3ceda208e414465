package stream_test

import (
	"context"
	"errors"
	"io"
	"log"
	"time"

	"github.com/loaxa/loaxa/audio/stream"
)

// A live stream played until its context ends, with its connection news
// handed to the agent.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	events := make(chan stream.Event, 16)
	s, err := stream.Open(ctx, "http://radio.example:8000/vov1.mp3", stream.Options{
		OnEvent: func(e stream.Event) {
			select {
			case events <- e: // the agent publishes these over MQTT
			default:
			}
		},
	})
	if err != nil {
		log.Print(err) // names the status and the URL, never its password
		return
	}
	defer s.Close()
	buf := make([]int16, 4096)
	for {
		n, err := s.Read(buf)
		_ = buf[:n] // to the sink, after conversion to its format
		if errors.Is(err, io.EOF) {
			return // a file ended
		}
		if err != nil {
			log.Print(err) // given up, or ctx ended
			return
		}
	}
}
