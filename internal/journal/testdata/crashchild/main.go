// Command crashchild is the process the journal's power-cut tests kill. It
// appends (or pushes and acknowledges) in a loop and prints each record on
// stdout, one line per call, right after the call that made it durable
// returned; the test SIGKILLs it at a random moment and checks that
// everything printed survived.
//
// It is a separate, small binary built without the race detector, so that
// a hundred starts take well under a second.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"

	"github.com/loaxa/loaxa/internal/journal"
)

func main() {
	mode := flag.String("mode", "journal", "journal or queue")
	dir := flag.String("dir", "", "the journal's directory")
	seed := flag.Uint64("seed", 1, "makes the records and acks of this run")
	seg := flag.Int64("segment", 1024, "Options.SegmentBytes")
	maxBytes := flag.Int64("max", 1<<20, "Options.MaxBytes")
	flag.Parse()
	o := journal.Options{SegmentBytes: *seg, MaxBytes: *maxBytes}
	rng := rand.New(rand.NewPCG(*seed, 7))
	var err error
	switch *mode {
	case "journal":
		err = appendLoop(*dir, o, *seed, rng)
	case "queue":
		err = queueLoop(*dir, o, *seed, rng)
	default:
		err = fmt.Errorf("unknown mode %q", *mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "crashchild:", err)
		os.Exit(1)
	}
}

// batch makes one to three recognisable records of varied length, printable
// and without spaces so that a line carries them.
func batch(seed uint64, i int, rng *rand.Rand) [][]byte {
	recs := make([][]byte, 1+rng.IntN(3))
	for k := range recs {
		recs[k] = fmt.Appendf(nil, "%d.%d/%d:%s", seed, i, k, bytes.Repeat([]byte{'a' + byte(k)}, rng.IntN(150)))
	}
	return recs
}

// line prints tag, first and the records as one write, so that a kill
// never leaves half a line.
func line(tag string, first uint64, recs [][]byte) {
	var b strings.Builder
	b.WriteString(tag + " " + strconv.FormatUint(first, 10))
	for _, r := range recs {
		b.WriteString(" ")
		b.Write(r)
	}
	b.WriteString("\n")
	os.Stdout.WriteString(b.String())
}

func appendLoop(dir string, o journal.Options, seed uint64, rng *rand.Rand) error {
	j, err := journal.Open(dir, o)
	if err != nil {
		return err
	}
	for i := range 100000 {
		recs := batch(seed, i, rng)
		first, err := j.Append(recs...)
		if errors.Is(err, journal.ErrFull) {
			os.Stdout.WriteString("F\n")
			return nil
		}
		if err != nil {
			return err
		}
		line("A", first, recs)
	}
	return nil
}

func queueLoop(dir string, o journal.Options, seed uint64, rng *rand.Rand) error {
	q, err := journal.OpenQueue(dir, o)
	if err != nil {
		return err
	}
	for i := range 100000 {
		recs := batch(seed, i, rng)
		first, err := q.Push(recs...)
		switch {
		case errors.Is(err, journal.ErrFull):
		case err != nil:
			return err
		default:
			line("P", first, recs)
		}
		pend, err := q.Pending(0, 16)
		if err != nil {
			return err
		}
		rng.Shuffle(len(pend), func(a, b int) { pend[a], pend[b] = pend[b], pend[a] })
		pend = pend[:rng.IntN(len(pend)+1)]
		if len(pend) == 0 {
			continue
		}
		seqs := make([]uint64, len(pend))
		words := make([]string, len(pend))
		for i, e := range pend {
			seqs[i], words[i] = e.Seq, strconv.FormatUint(e.Seq, 10)
		}
		// Announced first: if the child dies inside Ack, the test knows
		// which records may or may not have been acknowledged.
		os.Stdout.WriteString("k " + strings.Join(words, " ") + "\n")
		if err := q.Ack(seqs...); err != nil {
			return err
		}
		os.Stdout.WriteString("K\n")
	}
	return nil
}
