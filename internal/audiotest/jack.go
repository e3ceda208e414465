package audiotest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/loaxa/loaxa/internal/testenv"
)

// JACK is a JACK server on the dummy driver: a sound card paced in real
// time that needs no hardware, and that a test can take away mid-play as
// a wedged or unplugged USB card would be.
type JACK struct {
	name   string          // the server's name: clients find it through Env
	cmd    *exec.Cmd       // jackd
	exited <-chan struct{} // closed when jackd has ended
	logs   testenv.Buffer
}

// StartJACK starts jackd under a name of its own, with periods of period
// frames at 48 kHz, and stops it (SIGTERM) when the test ends; a missing
// jackd follows testenv's policy. Tests want long periods (2048): a client
// late for its cycles on a loaded machine is declared in xrun and dropped
// by the server, which is not what they test. Benchmarks want what a
// sound card does (480, 10 ms).
func StartJACK(tb testing.TB, period int) *JACK {
	tb.Helper()
	paths := testenv.NeedTools(tb,
		testenv.Tool{Cmd: "jackd", Package: "jackd2"},
		testenv.Tool{Cmd: "jack_wait", Package: "jackd2"})
	j := &JACK{name: fmt.Sprintf("loaxa-test-%d-%d", os.Getpid(), time.Now().UnixNano())}
	j.cmd = exec.Command(paths[0], "--no-realtime", "--timeout", "5000", "-d", "dummy", "-r", "48000", "-p", strconv.Itoa(period))
	j.cmd.Env = append(os.Environ(), j.Env())
	j.cmd.Stdout, j.cmd.Stderr = &j.logs, &j.logs
	testenv.DieWithTest(j.cmd)
	// SIGTERM, not SIGKILL, even when the test binary dies: a killed
	// jackd keeps its slot in JACK's registry of servers
	// (/dev/shm/jack-shm-registry), and after eight of them, each under
	// a name of its own, no JACK server starts on the machine any more
	// ("Too many servers already active").
	j.cmd.SysProcAttr.Pdeathsig = syscall.SIGTERM
	if err := j.cmd.Start(); err != nil {
		tb.Fatalf("jackd: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		j.cmd.Wait()
		close(exited)
	}()
	j.exited = exited
	tb.Cleanup(func() {
		j.Stop()
		// What the server and its clients leave in /dev/shm under its name.
		leftovers, _ := filepath.Glob("/dev/shm/jack*" + j.name + "*")
		for _, f := range leftovers {
			os.RemoveAll(f)
		}
		if tb.Failed() {
			tb.Logf("jackd log:\n%s", j.logs.String())
		}
	})
	wait := exec.Command(paths[1], "--server", j.name, "--wait", "--timeout", "20")
	if out, err := wait.CombinedOutput(); err != nil {
		tb.Fatalf("jackd did not come up: %v\n%s\njackd: %s", err, out, j.logs.String())
	}
	return j
}

// Env is the environment variable that points JACK clients at the server.
func (j *JACK) Env() string { return "JACK_DEFAULT_SERVER=" + j.name }

// stopGrace is how long Stop lets jackd end by itself. A client killed in
// the middle of a cycle makes jackd wait 10 s for it while it shuts down
// ("JackEngine::ClientCloseAux wait error"), and sometimes for good; a
// SIGKILL then leaks the server's slot in JACK's registry, and after
// eight no JACK server starts on the machine. So callers stop their
// clients first (BenchmarkAudioCPU sends loaxad SIGTERM); the grace only
// covers a client that died anyway.
const stopGrace = 30 * time.Second

// Stop ends the server (SIGTERM, SIGKILL after stopGrace) and waits for it.
func (j *JACK) Stop() {
	j.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-j.exited:
	case <-time.After(stopGrace):
		j.cmd.Process.Kill()
		<-j.exited
	}
}
