package guard

import (
	"testing"

	"github.com/loaxa/loaxa/audio"
)

// nullDevice takes every write at once.
type nullDevice struct{}

func (nullDevice) String() string        { return "null" }
func (nullDevice) Format() audio.Format  { return format }
func (nullDevice) Write(p []int16) error { return nil }
func (nullDevice) Close() error          { return nil }

// BenchmarkWrite measures what the guard adds to one 10 ms block: a copy,
// two goroutine hand-offs and a timer. Compare raw and guarded:
//
//	go test -run '^$' -bench Write -benchmem ./audio/guard
func BenchmarkWrite(b *testing.B) {
	b.Run("raw", func(b *testing.B) {
		var d audio.Sink = nullDevice{}
		for b.Loop() {
			d.Write(block)
		}
	})
	b.Run("guarded", func(b *testing.B) {
		s, err := Open(Options{Open: func() (audio.Sink, error) { return nullDevice{}, nil }, Log: quiet()})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		for b.Loop() {
			if err := s.Write(block); err != nil {
				b.Fatal(err)
			}
		}
	})
}
