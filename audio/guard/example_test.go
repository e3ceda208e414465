package guard_test

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/audio/guard"
)

// card stands in for a sound card (hal/portaudio on a pole).
type card struct{}

func (card) String() string        { return "USB card" }
func (card) Format() audio.Format  { return audio.Format{Rate: 48000, Channels: 2} }
func (card) Write(p []int16) error { return nil }
func (card) Close() error          { return nil }

func ExampleOpen() {
	s, err := guard.Open(guard.Options{
		// Called now, and again each time the device must be reopened.
		Open: func() (audio.Sink, error) { return card{}, nil },
		Log:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Println(err) // a missing device: the pole runs without audio
		return
	}
	defer s.Close()

	// The player writes to s as to any sink. A write stuck in the driver
	// returns an error wrapping ErrFailed after its deadline instead of
	// never.
	if err := s.Write(make([]int16, 960)); errors.Is(err, guard.ErrFailed) {
		fmt.Println("the device failed:", err)
	}

	// The agent raises or clears its alarm whenever this changes.
	st, changed := s.Status()
	fmt.Printf("%s: failed=%v, %d failures\n", s, st.Err != nil, st.Failures)
	select {
	case <-changed:
		fmt.Println("changed")
	default:
		fmt.Println("no change since")
	}
	// Output:
	// USB card: failed=false, 0 failures
	// no change since
}
