package player

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/loaxa/loaxa/audio"
)

// gateSink hands each write's size to the test and holds the write until
// the test releases it: the test decides when the device "has played" a
// write, and can make a request while one is in progress.
type gateSink struct {
	sizes   chan int
	release chan struct{}
	done    chan struct{}
}

func (g *gateSink) String() string       { return "gate" }
func (g *gateSink) Format() audio.Format { return format }
func (g *gateSink) Close() error         { return nil }
func (g *gateSink) Write(p []int16) error {
	select {
	case g.sizes <- len(p):
	case <-g.done:
		return nil
	}
	select {
	case <-g.release:
	case <-g.done:
	}
	return nil
}

// next returns the size of the next write, which then waits for finish.
func (g *gateSink) next(t *testing.T) int {
	t.Helper()
	select {
	case n := <-g.sizes:
		return n
	case <-time.After(10 * time.Second):
		t.Fatal("the player stopped writing")
		return 0
	}
}

// finish lets the write in progress return.
func (g *gateSink) finish() { g.release <- struct{}{} }

func startGated(t *testing.T) (*Player, *gateSink) {
	t.Helper()
	sink := &gateSink{sizes: make(chan int), release: make(chan struct{}), done: make(chan struct{})}
	p, err := New(Options{Sink: sink, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); close(sink.done); <-done })
	return p, sink
}

// untilBatch lets writes through until one of a whole batch is in
// progress (steady play has reached batching), and returns with it held.
func untilBatch(t *testing.T, p *Player, sink *gateSink) {
	t.Helper()
	for range 1000 {
		n := sink.next(t)
		if n%p.block != 0 || n > p.batch {
			t.Fatalf("a write of %d samples: want whole blocks of %d, at most a batch of %d", n, p.block, p.batch)
		}
		if n == p.batch {
			return
		}
		sink.finish()
	}
	t.Fatal("steady play never wrote a whole batch")
}

// A request made while a batch is being written waits for that write
// only: the writes that carry its fade are single blocks, and the fade
// takes as many blocks as it lasts (one more at most). So a stop (and the emergency behind
// it) starts at most one batch later than with block-sized writes.
func TestRequestWaitsForOneBatchAtMost(t *testing.T) {
	fade := 30 * time.Millisecond
	for _, tc := range []struct {
		name string
		req  func(*Player)
		want EventKind
	}{
		{"stop", func(p *Player) { p.Stop("long", fade) }, Stopped},
		{"mute", func(p *Player) { p.Mute(fade) }, Silent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, sink := startGated(t)
			p.Play(Item{ID: "long", Open: tone(48000 * 2 * 60), Gain: 1})
			untilBatch(t, p, sink)
			if ev := next(t, p); ev.Kind != Started {
				t.Fatalf("first event %+v", ev)
			}
			tc.req(p)
			sink.finish() // the batch in progress when the request came
			fadeBlocks := int(fade / (10 * time.Millisecond))
			check := func(ev Event, blocks int) {
				if ev.Kind != tc.want {
					t.Fatalf("event %+v, want %v", ev, tc.want)
				}
				// The gain's ramp, summed in float steps, may need one
				// more block than the fade's duration to land on zero.
				if blocks < fadeBlocks || blocks > fadeBlocks+1 {
					t.Errorf("%v after %d blocks, want %d (the fade) or one more", tc.want, blocks, fadeBlocks)
				}
			}
			for blocks := 0; ; blocks++ {
				select {
				case n := <-sink.sizes:
					// The event, emitted after a write returns, is queued
					// before the next write starts.
					select {
					case ev := <-p.Events():
						check(ev, blocks)
						return
					default:
					}
					if n != p.block {
						t.Fatalf("write %d after the request is %d samples, want one block (%d)", blocks+1, n, p.block)
					}
					if blocks > fadeBlocks+1 {
						t.Fatalf("no %v event %d blocks after the request", tc.want, blocks)
					}
					sink.finish()
				case ev := <-p.Events():
					check(ev, blocks)
					return
				case <-time.After(10 * time.Second):
					t.Fatalf("neither a write nor %v", tc.want)
				}
			}
		})
	}
}

// A volume change ramps in blocks, then play goes back to batches.
func TestVolumeRampInBlocksThenBatches(t *testing.T) {
	p, sink := startGated(t)
	p.Play(Item{ID: "long", Open: tone(48000 * 2 * 60), Gain: 1})
	untilBatch(t, p, sink)
	p.SetGain(0.5)
	sink.finish()
	if n := sink.next(t); n != p.block {
		t.Fatalf("first write of the ramp is %d samples, want one block (%d)", n, p.block)
	}
	sink.finish()
	untilBatch(t, p, sink)
	sink.finish()
}

func TestBatchSizes(t *testing.T) {
	for _, tc := range []struct {
		name                      string
		o                         Options
		batch, chunk, queue, want int // batch and chunk in blocks of 10 ms
	}{
		{name: "defaults", batch: 4, chunk: 10, queue: 2},
		{name: "batch rounded to blocks", o: Options{Batch: 25 * time.Millisecond}, batch: 3, chunk: 10, queue: 2},
		{name: "batch below a block", o: Options{Batch: time.Millisecond}, batch: 1, chunk: 10, queue: 2},
		{name: "chunk at least a batch", o: Options{Batch: 150 * time.Millisecond}, batch: 15, chunk: 15, queue: 1},
		{name: "short prefetch", o: Options{Prefetch: 40 * time.Millisecond}, batch: 4, chunk: 4, queue: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Sink = &memSink{}
			p, err := New(tc.o)
			if err != nil {
				t.Fatal(err)
			}
			if p.batch != tc.batch*p.block || p.chunk != tc.chunk*p.block || p.queue != tc.queue {
				t.Errorf("batch %d, chunk %d blocks, queue %d; want %d, %d, %d", p.batch/p.block, p.chunk/p.block, p.queue, tc.batch, tc.chunk, tc.queue)
			}
		})
	}
}
