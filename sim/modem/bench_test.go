package modem_test

import (
	"context"
	"path/filepath"
	"testing"

	halmodem "github.com/loaxa/loaxa/hal/modem"
	simmodem "github.com/loaxa/loaxa/sim/modem"
)

// BenchmarkReadOverPTY measures one steady reading (11 commands of a
// registered EC25 with GNSS) through go.bug.st/serial on a pseudo-terminal
// against the emulator: the cost of the AT layer itself, since the
// emulator answers at once. A real EC25 on USB answers each command in
// 5–50 ms, which dominates on a pole. Reproduce with
//
//	go test -run XXX -bench ReadOverPTY -benchmem ./sim/modem/
func BenchmarkReadOverPTY(b *testing.B) {
	s, err := simmodem.Start(simmodem.Options{Dir: filepath.Join(b.TempDir(), "modem")})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	m, err := halmodem.New(halmodem.Config{Port: s.Path()})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Halt()
	ctx := context.Background()
	if _, err := m.Read(ctx); err != nil { // open and set up
		b.Fatal(err)
	}
	before := len(s.Commands())
	if _, err := m.Read(ctx); err != nil {
		b.Fatal(err)
	}
	perRead := len(s.Commands()) - before
	for b.Loop() {
		if _, err := m.Read(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(perRead), "commands/op")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*perRead), "µs/command")
}
