package clock_test

import (
	"testing"
	"time"

	"github.com/loaxa/loaxa/internal/clock"
)

// Since Go 1.23 (this module is go 1.26), a *time.Timer or *time.Ticker
// never delivers a value from before a Stop or Reset: Stop of a timer whose
// deadline passed but whose value was not received returns true, and a
// receive after Reset waits for the new deadline. clock.Real inherits that;
// the Fake must behave the same, or code tested with the Fake sees a tick
// that production never sees.
func TestFakeDeliversNoStaleValueAfterStopOrReset(t *testing.T) {
	tests := []struct {
		name string
		run  func(f *clock.Fake) <-chan time.Time
	}{
		{"timer Stop then Reset", func(f *clock.Fake) <-chan time.Time {
			tm := f.NewTimer(time.Second)
			f.Advance(time.Second) // fires; nobody receives
			if !tm.Stop() {
				t.Error("Stop() = false for a timer whose value was never received; time.Timer returns true")
			}
			tm.Reset(time.Hour)
			return tm.C()
		}},
		{"timer Reset", func(f *clock.Fake) <-chan time.Time {
			tm := f.NewTimer(time.Second)
			f.Advance(time.Second)
			tm.Reset(time.Hour)
			return tm.C()
		}},
		{"ticker Reset", func(f *clock.Fake) <-chan time.Time {
			tk := f.NewTicker(time.Second)
			f.Advance(time.Second)
			tk.Reset(time.Hour)
			return tk.C()
		}},
		{"ticker Stop", func(f *clock.Fake) <-chan time.Time {
			tk := f.NewTicker(time.Second)
			f.Advance(time.Second)
			tk.Stop()
			return tk.C()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := clock.NewFake(time.Unix(0, 0))
			ch := tt.run(f)
			select {
			case v := <-ch:
				t.Fatalf("received %v, from before the Stop/Reset; time.Timer/Ticker would block", v)
			default:
			}
		})
	}
}
