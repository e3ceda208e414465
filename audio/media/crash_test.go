package media

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loaxa/loaxa/internal/testenv"
)

const crashChildEnv = "MEDIA_CRASH_CHILD"

// crashChild is the process the crash test kills: a Fetcher fetching one
// file, printing its event when it is done.
func crashChild() int {
	c := newCollector()
	opts := FetcherOptions{Dir: os.Getenv("MEDIA_DIR"), OnEvent: c.on, BackoffBase: time.Nanosecond, BackoffMax: time.Nanosecond,
		CheckpointBytes: 32 << 10, MinFreeBytes: -1}
	f, err := NewFetcher(opts)
	if err != nil {
		fmt.Println(err)
		return 2
	}
	defer f.Close()
	if _, err := f.Fetch(os.Getenv("MEDIA_URL"), os.Getenv("MEDIA_SHA"), os.Getenv("MEDIA_NAME")); err != nil {
		fmt.Println(err)
		return 2
	}
	ev := <-c.ch
	json.NewEncoder(os.Stdout).Encode(ev)
	return 0
}

// TestCrashDuringDownload SIGKILLs a fetching process at random moments,
// 45 times, then lets one finish. After every kill the cache holds no file
// but one with the right hash, and the next process asks the server for
// exactly the bytes after the last synced checkpoint: nothing is fetched
// twice but what had not reached the disk.
func TestCrashDuringDownload(t *testing.T) {
	const size = 2 << 20
	content := randomBytes(size, 42)
	want := sum(content)
	fs, srv := newFileServer(t, content)
	r := rand.New(rand.NewPCG(testenv.Seed(t, "MEDIA_CRASH_SEED"), 7))
	var pauseStep atomic.Int64 // 0: no pause
	fs.pauseAt = func(start int64) int64 {
		if step := pauseStep.Load(); step > 0 {
			return start + 1 + step
		}
		return -1
	}
	dir := t.TempDir()
	name := "bulletin.mp3"
	part := filepath.Join(dir, PartialDir, partBase(name, want)+".part")
	rec := strings.TrimSuffix(part, ".part") + ".json"

	check := func(when string) {
		t.Helper()
		entries, err := List(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			data, _ := os.ReadFile(filepath.Join(dir, e.Name))
			if e.Name != name || sum(data) != want {
				t.Fatalf("%s: the cache serves %s (%d bytes) with sha256 %s", when, e.Name, len(data), sum(data))
			}
		}
	}
	run := func(i int, kill func(done <-chan struct{})) (out string) {
		// What the next request must ask for: the synced size, if a
		// record and its partial file survived.
		expect := int64(0)
		if p, err := readRecord(rec); err == nil {
			if _, err := os.Stat(part); err == nil {
				expect = p.Size
			}
		}
		before := len(fs.requests())
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"=1", "MEDIA_DIR="+dir, "MEDIA_URL="+srv.URL+"/"+name, "MEDIA_SHA="+want, "MEDIA_NAME="+name)
		var stdout strings.Builder
		cmd.Stdout = &stdout
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		if kill != nil {
			kill(done)
			cmd.Process.Kill() // SIGKILL
		}
		<-done
		if reqs := fs.requests(); len(reqs) > before && reqs[before] != expect {
			t.Fatalf("run %d asked for bytes from %d; the last synced checkpoint was %d", i, reqs[before], expect)
		}
		check(fmt.Sprintf("after run %d", i))
		return stdout.String()
	}

	kills := 0
	for i := 0; i < 40; i++ {
		// 0 would mean no pause (the run would end by itself): the step
		// is drawn from [1, size/40), both ends pinned once.
		step := 1 + r.Int64N(size/40-1)
		switch i {
		case 0:
			step = 1
		case 1:
			step = size/40 - 1
		}
		pauseStep.Store(step)
		run(i, func(done <-chan struct{}) {
			select {
			case at := <-fs.paused:
				if r.IntN(2) == 0 {
					// Kill once the child wrote all it got: between
					// checkpoints, or in the middle of one.
					for {
						info, err := os.Stat(part)
						if err == nil && info.Size() >= at || isClosed(done) {
							break
						}
						runtime.Gosched()
					}
				}
			case <-done:
				t.Fatalf("run %d ended by itself", i)
			}
			kills++
		})
	}
	// Kills around the end: verifying, renaming, recording.
	pauseStep.Store(0)
	for i := 40; i < 45; i++ {
		run(i, func(done <-chan struct{}) {
			// Once the child has every byte: it syncs, records, hashes,
			// renames and indexes.
			for {
				info, err := os.Stat(part)
				if err == nil && info.Size() == size || isClosed(done) {
					break
				}
				runtime.Gosched()
			}
			kills++
		})
	}
	out := run(45, nil)
	var ev Event
	if err := json.Unmarshal([]byte(out), &ev); err != nil || ev.Kind != EventFetched {
		t.Fatalf("the last run printed %q, want a fetched event", out)
	}
	check("at the end")
	if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
		t.Fatal("the file is not in the cache")
	}
	served := fs.served.Load()
	t.Logf("%d kills, %d requests, %d bytes served for a %d-byte file (%.2f×)", kills, len(fs.requests()), served, size, float64(served)/size)
	// A run in the pause phase is served at most size/40 bytes, so that
	// phase costs at most one file; what is left is served once, plus what
	// an end-phase kill had not recorded (nothing: the record is written
	// whole before the hash). Starting over even once would break this.
	if kills < 30 || served > 2*size+5*(32<<10) {
		t.Errorf("%d kills, %d bytes served: want at least 30 kills and at most twice the file", kills, served)
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
