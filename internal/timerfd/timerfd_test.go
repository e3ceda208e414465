//go:build linux

package timerfd

import (
	"errors"
	"testing"
	"time"
)

// A sleep never ends early, whatever its length and however many came
// before it (an expiry left unread must not end the next one).
func TestSleepLastsAtLeastItsDuration(t *testing.T) {
	tm, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer tm.Close()
	for _, d := range []time.Duration{time.Microsecond, 3 * time.Millisecond, 20 * time.Millisecond, 1500 * time.Microsecond, 40 * time.Millisecond} {
		for range 3 {
			start := time.Now()
			if err := tm.Sleep(d); err != nil {
				t.Fatal(err)
			}
			if got := time.Since(start); got < d {
				t.Fatalf("Sleep(%v) returned after %v", d, got)
			}
		}
	}
	if err := tm.Sleep(-time.Second); err != nil {
		t.Fatalf("Sleep of a negative duration: %v", err)
	}
}

// Close ends a sleep in progress at once, with ErrClosed, and may come
// twice.
func TestCloseEndsASleep(t *testing.T) {
	tm, err := New()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- tm.Sleep(time.Hour) }()
	time.Sleep(20 * time.Millisecond) // let it park
	if err := tm.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Sleep after Close: %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end the sleep")
	}
	if err := tm.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := tm.Sleep(time.Millisecond); !errors.Is(err, ErrClosed) {
		t.Fatalf("Sleep on a closed timer: %v, want ErrClosed", err)
	}
}

// A sleep allocates nothing: the audio output sleeps on a Timer 25 times
// a second for as long as it plays, and each allocation is garbage the
// collector wakes up for on a small board.
func TestSleepAllocatesNothing(t *testing.T) {
	tm, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer tm.Close()
	if n := testing.AllocsPerRun(50, func() {
		if err := tm.Sleep(time.Microsecond); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Sleep allocates %v times per call, want 0", n)
	}
	if err := tm.Every(time.Microsecond); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(50, func() {
		if err := tm.Wait(); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Wait allocates %v times per call, want 0", n)
	}
}
