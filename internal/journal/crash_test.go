package journal

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loaxa/loaxa/internal/testenv"
)

// The power-cut tests start testdata/crashchild, which appends in a loop
// and prints each record right after the call that made it durable
// returned; they SIGKILL it at a random moment, then reopen the journal and
// check that everything printed is there.
//
// A SIGKILL loses no page-cache data, so it cannot tear a write the way a
// power cut does; the torn-tail tests cover that at every byte offset. What
// these tests prove is that no sequence of operations (an Open that is
// repairing, a rotation, a trim, an ack) is unsafe to interrupt.

var crashOptions = Options{SegmentBytes: 1024, MaxBytes: 1 << 20}

var child struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// childPath builds testdata/crashchild once per test process, without the
// race detector: a hundred starts of a race-enabled binary take seconds.
func childPath(t *testing.T) string {
	t.Helper()
	child.once.Do(func() {
		gobin, err := exec.LookPath("go")
		if err != nil {
			gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		if child.dir, child.err = os.MkdirTemp("", "journal-crashchild-"); child.err != nil {
			return
		}
		child.path = filepath.Join(child.dir, "crashchild")
		out, err := exec.Command(gobin, "build", "-o", child.path, "./testdata/crashchild").CombinedOutput()
		if err != nil {
			child.err = fmt.Errorf("go build ./testdata/crashchild: %v\n%s", err, out)
		}
	})
	if child.err != nil {
		t.Fatal(child.err)
	}
	return child.path
}

// removeChild deletes the built child; TestMain calls it.
func removeChild() {
	if child.dir != "" {
		os.RemoveAll(child.dir)
	}
}

func crashIterations() int {
	if testing.Short() {
		return 25
	}
	return 100
}

// runAndKill starts a child and SIGKILLs it after it printed killAfter
// lines and a random few hundred microseconds more; it returns every line
// the child printed.
func runAndKill(t *testing.T, mode, dir string, seed uint64, killAfter int, rng *rand.Rand) []string {
	t.Helper()
	cmd := exec.Command(childPath(t), "-mode", mode, "-dir", dir, "-seed", strconv.FormatUint(seed, 10),
		"-segment", strconv.FormatInt(crashOptions.SegmentBytes, 10), "-max", strconv.FormatInt(crashOptions.MaxBytes, 10))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(nil, 1<<20)
	var lines []string
	for len(lines) < killAfter && sc.Scan() {
		lines = append(lines, sc.Text())
	}
	// The random moment: a crash test, not a wait for a condition.
	time.Sleep(time.Duration(rng.IntN(400)) * time.Microsecond)
	cmd.Process.Kill()
	for sc.Scan() { // what it printed before dying was reported durable
		lines = append(lines, sc.Text())
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if err != nil && (!errors.As(err, &ee) || ee.ExitCode() != -1) {
		t.Fatalf("child failed: %v\n%s", err, stderr.String())
	}
	return lines
}

// seedRNG seeds a test's randomness from the clock, or from JOURNAL_SEED to
// replay a failure; the seed is logged.
func seedRNG(t *testing.T) *rand.Rand {
	t.Helper()
	return rand.New(rand.NewPCG(testenv.Seed(t, "JOURNAL_SEED"), 1))
}

func TestPowerCutJournal(t *testing.T) {
	dir := memDir(t)
	rng := seedRNG(t)
	seen := map[uint64]string{}     // every record ever reported or read back
	reported := map[uint64]string{} // reported durable, at or above trimmed
	var trimmed, maxReported uint64
	for it := range crashIterations() {
		for _, l := range runAndKill(t, "journal", dir, uint64(it), rng.IntN(12), rng) {
			f := strings.Fields(l)
			if f[0] == "F" {
				continue
			}
			first, err := strconv.ParseUint(f[1], 10, 64)
			if f[0] != "A" || err != nil {
				t.Fatalf("child line %q", l)
			}
			for k, p := range f[2:] {
				seq := first + uint64(k)
				if seq <= maxReported {
					t.Fatalf("iteration %d: seq %d reported after %d", it, seq, maxReported)
				}
				if old, ok := seen[seq]; ok && old != p {
					t.Fatalf("iteration %d: seq %d reused: held %q, now %q", it, seq, old, p)
				}
				maxReported, reported[seq], seen[seq] = seq, p, p
			}
		}

		j, err := Open(dir, crashOptions)
		if err != nil {
			t.Fatalf("iteration %d: Open: %v", it, err)
		}
		got := map[uint64]bool{}
		last := uint64(0)
		err = j.Scan(0, func(seq uint64, r []byte) error {
			if seq <= last {
				return fmt.Errorf("seq %d after %d", seq, last)
			}
			last = seq
			if old, ok := seen[seq]; ok && old != string(r) {
				return fmt.Errorf("seq %d holds %q, was %q", seq, r, old)
			}
			seen[seq], got[seq] = string(r), true
			return nil
		})
		if err != nil {
			t.Fatalf("iteration %d: %v", it, err)
		}
		for seq := range reported {
			if !got[seq] {
				t.Fatalf("iteration %d: record %d was reported durable and is gone (stats %+v)", it, seq, j.Stats())
			}
		}
		if it%3 == 2 { // trim somewhere, as a consumer would
			if f, n := j.First(), j.Next(); n > f {
				trimmed = max(trimmed, f+rng.Uint64N(n-f+1))
				if err := j.Trim(trimmed); err != nil {
					t.Fatal(err)
				}
				for seq := range reported {
					if seq < trimmed {
						delete(reported, seq)
					}
				}
			}
		}
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if maxReported < 100 {
		t.Fatalf("only %d records reported over the run: the children hardly ran", maxReported)
	}
}

func TestPowerCutQueue(t *testing.T) {
	dir := memDir(t)
	rng := seedRNG(t)
	known := map[uint64]string{} // pushed: reported, or read back from the queue
	acked := map[uint64]bool{}   // acknowledged by a call that returned
	var maxKnown uint64
	var pushes, acks int
	for it := range crashIterations() {
		maxBefore := maxKnown
		var maybe map[uint64]bool // announced by an Ack call that may not have returned
		for _, l := range runAndKill(t, "queue", dir, uint64(it), rng.IntN(12), rng) {
			f := strings.Fields(l)
			switch f[0] {
			case "P":
				first, _ := strconv.ParseUint(f[1], 10, 64)
				for k, p := range f[2:] {
					seq := first + uint64(k)
					if old, ok := known[seq]; ok && old != p {
						t.Fatalf("iteration %d: seq %d reused", it, seq)
					}
					known[seq] = p
					maxKnown = max(maxKnown, seq)
					pushes++
				}
			case "k":
				maybe = map[uint64]bool{}
				for _, s := range f[1:] {
					seq, _ := strconv.ParseUint(s, 10, 64)
					if _, ok := known[seq]; !ok {
						t.Fatalf("iteration %d: child acknowledges %d, never pushed", it, seq)
					}
					maybe[seq] = true
				}
			case "K":
				for seq := range maybe {
					acked[seq] = true
					acks++
				}
				maybe = nil
			default:
				t.Fatalf("child line %q", l)
			}
		}

		q, err := OpenQueue(dir, crashOptions)
		if err != nil {
			t.Fatalf("iteration %d: OpenQueue: %v", it, err)
		}
		pend, err := q.Pending(0, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		// The floor the child must have persisted: every known record below
		// it was acknowledged by a call that returned.
		floor := uint64(1 << 62)
		for seq := range known {
			if !acked[seq] {
				floor = min(floor, seq)
			}
		}
		inPend := map[uint64]bool{}
		for i, e := range pend {
			if i > 0 && e.Seq <= pend[i-1].Seq {
				t.Fatalf("iteration %d: pending out of order: %d after %d", it, e.Seq, pend[i-1].Seq)
			}
			p, ok := known[e.Seq]
			switch {
			case !ok && e.Seq <= maxBefore:
				t.Fatalf("iteration %d: unknown record %d came back (acknowledged and forgotten?)", it, e.Seq)
			case !ok: // pushed by the child just before it died, not reported
				known[e.Seq] = string(e.Data)
				maxKnown = max(maxKnown, e.Seq)
			case p != string(e.Data):
				t.Fatalf("iteration %d: record %d holds %q, want %q", it, e.Seq, e.Data, p)
			case acked[e.Seq] && e.Seq < floor:
				t.Fatalf("iteration %d: record %d acknowledged below the floor %d came back", it, e.Seq, floor)
			}
			inPend[e.Seq] = true
		}
		for seq := range known {
			switch {
			case inPend[seq]:
				// A record acknowledged out of order comes back after a
				// restart: it is pending again, and must be acknowledged
				// again for the floor to pass it.
				delete(acked, seq)
			case maybe[seq]:
				acked[seq] = true // the interrupted Ack got to persist it
			case !acked[seq]:
				t.Fatalf("iteration %d: unacknowledged record %d lost (stats %+v)", it, seq, q.Stats())
			}
		}
		for seq := range known { // forget what can never come back
			if acked[seq] && seq < floor {
				delete(known, seq)
				delete(acked, seq)
			}
		}
		if err := q.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if pushes < 100 || acks < 50 {
		t.Fatalf("%d records pushed and %d acknowledged over the run: the children hardly ran", pushes, acks)
	}
}
