package journal

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// Reproduce with: go test -run '^$' -bench . ./internal/journal
// The data directory is the test's temporary directory, so the figures are
// those of the disk under $TMPDIR (point TMPDIR at the SD card on a pole).

// latencies collects per-call durations and reports their distribution.
type latencies []time.Duration

func (l latencies) report(b *testing.B, recsPerCall int) {
	if len(l) == 0 {
		return
	}
	slices.Sort(l)
	pct := func(p float64) float64 {
		return float64(l[int(p*float64(len(l)-1))]) / float64(time.Microsecond)
	}
	var total time.Duration
	for _, d := range l {
		total += d
	}
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(float64(len(l)*recsPerCall)/total.Seconds(), "records/s")
}

func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{100, 1024} {
		for _, batch := range []int{1, 16} {
			b.Run(fmt.Sprintf("rec=%dB/batch=%d", size, batch), func(b *testing.B) {
				j := openT(b, b.TempDir(), Options{})
				recs := make([][]byte, batch)
				for i := range recs {
					recs[i] = make([]byte, size)
				}
				lat := make(latencies, 0, 1024)
				b.SetBytes(int64(size * batch))
				for b.Loop() {
					// Keep well below MaxBytes, as a consumer acknowledging
					// at the rate of production would.
					if j.Stats().Bytes > DefaultMaxBytes/2 {
						if err := j.Trim(j.Next()); err != nil {
							b.Fatal(err)
						}
					}
					t0 := time.Now()
					if _, err := j.Append(recs...); err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(t0))
				}
				lat.report(b, batch)
			})
		}
	}
}

// BenchmarkQueuePushAck is the outbox's cost per message when the broker
// acknowledges each at once: one Push and one Ack, two fsyncs.
func BenchmarkQueuePushAck(b *testing.B) {
	q, err := OpenQueue(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	rec := make([]byte, 100)
	lat := make(latencies, 0, 1024)
	for b.Loop() {
		t0 := time.Now()
		seq, err := q.Push(rec)
		if err != nil {
			b.Fatal(err)
		}
		if err := q.Ack(seq); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	lat.report(b, 1)
}

func BenchmarkOpen100k(b *testing.B) {
	const n, size = 100_000, 100
	dir := b.TempDir()
	o := Options{MaxBytes: 16 << 20}
	j := openT(b, dir, o)
	batch := make([][]byte, 1000)
	for i := range batch {
		batch[i] = make([]byte, size)
	}
	for range n / len(batch) {
		if _, err := j.Append(batch...); err != nil {
			b.Fatal(err)
		}
	}
	j.Close()
	for b.Loop() {
		j, err := Open(dir, o)
		if err != nil {
			b.Fatal(err)
		}
		if st := j.Stats(); st.Records != n || st.Damaged() {
			b.Fatalf("stats %+v after reopen, want %d records", st, n)
		}
		j.Close()
	}
	b.ReportMetric(n, "records")
}
