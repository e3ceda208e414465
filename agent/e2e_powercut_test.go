package agent_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/internal/mqtttest"
	"github.com/loaxa/loaxa/internal/testbin"
	"github.com/loaxa/loaxa/internal/testenv"
)

var storedRE = regexp.MustCompile(`msg="event stored" seq=(\d+)`)

// Issue 7: the pole is offline (its broker gone) while events are made and
// written (each start's "started", the door opening and closing), and it is
// SIGKILLed at random moments, 100 times. Every event it reported written
// arrives once the broker is back, in order, and its storage always opens.
func TestE2EKilledWhileOfflineDeliversEveryEventInOrder(t *testing.T) {
	bin, err := testbin.Path("loaxad")
	if err != nil {
		t.Fatal(err)
	}
	b := mqtttest.Start(t)
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(testenv.Seed(t, "LOAXA_POWERCUT_SEED"), 1))
	// Offline: the broker of the file is a closed port.
	writeConfig(t, dir, "pole-cut", "tcp://127.0.0.1:1", `log_level = "debug"`)
	door := filepath.Join(dir, "sim", "inputs", "tamper")
	var stored []uint64
	var mu sync.Mutex
	const kills = 100
	for i := range kills {
		cmd := exec.Command(bin, "--sim", "--data-dir", dir)
		testenv.DieWithTest(cmd)
		out, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		scanned, firstStored := make(chan struct{}), make(chan struct{})
		var problems []string
		go func(first chan struct{}) {
			defer close(scanned)
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				line := sc.Text()
				if m := storedRE.FindStringSubmatch(line); m != nil {
					n, _ := strconv.ParseUint(m[1], 10, 64)
					mu.Lock()
					stored = append(stored, n)
					mu.Unlock()
					if first != nil {
						close(first)
						first = nil
					}
				}
				if strings.Contains(line, `name=storage`) || strings.Contains(line, `name=state_reset`) {
					problems = append(problems, line)
				}
			}
		}(firstStored)
		// Make some events while it runs: the door opens and closes.
		if i%3 == 0 {
			os.MkdirAll(filepath.Dir(door), 0o755)
			os.WriteFile(door, []byte(strconv.Itoa(i%2)+"\n"), 0o644)
		}
		// Every other run counts from its first event written, so a
		// machine slow to start the agent still kills it while it writes;
		// the others count from the start, so some die while it opens.
		if i%2 == 1 {
			select {
			case <-firstStored:
			case <-scanned:
			case <-time.After(30 * time.Second):
				t.Fatalf("run %d: no event written within 30 s", i)
			}
		}
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		<-scanned
		if len(problems) > 0 {
			t.Fatalf("run %d: the storage did not open cleanly:\n%s", i, strings.Join(problems, "\n"))
		}
	}
	if len(stored) < kills/2 { // at least one a run for half the runs
		t.Fatalf("only %d events reported written in %d runs: the kills came too early to test anything", len(stored), kills)
	}
	// The broker back, in the configuration.
	writeConfig(t, dir, "pole-cut", b.URL(), "")
	topics := wire.Topics{Root: wire.DefaultRoot, ID: "pole-cut"}
	var got []uint64
	seen := map[uint64]bool{}
	var gmu sync.Mutex
	cl := mqtttest.Connect(t, mqtttest.ClientOptions(b, "cut-watch").SetOrderMatters(true)) // in arrival order
	mqtttest.Wait(t, cl.Subscribe(topics.Event(), 1, func(_ mqtt.Client, m mqtt.Message) {
		var ev wire.Event
		if json.Unmarshal(m.Payload(), &ev) != nil {
			return
		}
		gmu.Lock()
		defer gmu.Unlock()
		if !seen[ev.Seq] { // QoS 1: a repeat is a duplicate
			seen[ev.Seq] = true
			got = append(got, ev.Seq)
		}
	}), "subscribe")
	runLoaxad(t, "--sim", "--data-dir", dir)
	missing := func() []uint64 {
		gmu.Lock()
		defer gmu.Unlock()
		var out []uint64
		for _, s := range stored {
			if !seen[s] {
				out = append(out, s)
			}
		}
		return out
	}
	deadline := time.Now().Add(2 * time.Minute)
	for len(missing()) > 0 {
		if time.Now().After(deadline) {
			lost := missing()
			gmu.Lock()
			t.Fatalf("%d of %d stored events never arrived: %v\nstored %v\narrived %v", len(lost), len(stored), lost, stored, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
	gmu.Lock()
	defer gmu.Unlock()
	if !slices.IsSorted(got) {
		t.Errorf("events arrived out of order: %v", got)
	}
	t.Logf("%d runs killed, %d events stored and delivered in order", kills, len(stored))
}

// writeConfig writes DATA_DIR/loaxa.toml for a pole on broker.
func writeConfig(t *testing.T, dir, id, broker, extra string) {
	t.Helper()
	doc := fmt.Sprintf("id = %q\n%s\n[mqtt]\nbroker = %q\n", id, extra, broker)
	if err := os.WriteFile(filepath.Join(dir, "loaxa.toml"), []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
}
