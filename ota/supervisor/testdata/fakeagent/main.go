// Command fakeagent stands in for loaxad in the supervisor's tests: the
// same two roles (`fakeagent supervise FLAGS` is the supervisor, plain
// `fakeagent FLAGS` the agent), the real ota.Updater and supervisor, and
// no hardware or MQTT. Its behaviour is fixed at build time:
//
//	-X main.version=v1.1.0   the version it reports
//	-X main.mode=good        good: reports healthy at once
//	                         crash: exits 3 before reporting healthy
//	                         hang: ignores SIGTERM, never reports healthy
//	                         nohealth: runs, says it waits for the broker, never healthy
//	                         crashlater: reports healthy, then exits 4
//	                         reexec: re-executes itself once (as loaxad does
//	                         for the restart command), then as good
//
// The agent appends what it does to DATA_DIR/agent.log (one JSON object a
// line: start, event, submit, exit), submits --manifest at every start (a
// command redelivered), and treats $LOAXA_TEST_KILL ("POINT@WHO", WHO
// agent or both; POINT state:NAME, download:OFFSET or boot:EVENT) as a
// one-shot SIGKILL at that point. download:OFFSET+saved waits past OFFSET
// until a checkpoint is saved. A download kill's marker says the offset
// reached and the one saved in the update record ("download N saved S").
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/loaxa/loaxa/ota"
	"github.com/loaxa/loaxa/ota/supervisor"
)

var (
	version = "v0.0.0"
	mode    = "good"
)

type flags struct {
	dataDir     string
	manifest    string
	keys        string
	trial       time.Duration
	restartBase time.Duration
	crashExits  int
	checkpoint  int64
}

func parse(args []string) flags {
	var f flags
	fs := flag.NewFlagSet("fakeagent", flag.ExitOnError)
	fs.StringVar(&f.dataDir, "data-dir", "", "data directory")
	fs.StringVar(&f.manifest, "manifest", "", "signed manifest to submit at start")
	fs.StringVar(&f.keys, "keys", "", "trusted keys, comma-separated")
	fs.DurationVar(&f.trial, "trial", 5*time.Second, "trial time")
	fs.DurationVar(&f.restartBase, "restart-base", 20*time.Millisecond, "restart backoff base")
	fs.IntVar(&f.crashExits, "crash-exits", 3, "crash-loop exits")
	fs.Int64Var(&f.checkpoint, "checkpoint", 64<<10, "download checkpoint bytes")
	fs.Parse(args)
	return f
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "supervise" {
		os.Exit(supervise(os.Args[2:]))
	}
	os.Exit(agent(os.Args[1:]))
}

func keys(s string) []ota.PublicKey {
	if s == "" {
		return nil
	}
	k, err := ota.ParsePublicKeys(strings.Split(s, ","))
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakeagent:", err)
		os.Exit(2)
	}
	return k
}

func supervise(args []string) int {
	f := parse(args)
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("pid", os.Getpid(), "role", "supervisor")
	err = supervisor.Run(context.Background(), supervisor.Options{
		DataDir: f.dataDir, Args: args, Self: self, Version: version, Keys: keys(f.keys),
		Trial: f.trial, CrashLoopExits: f.crashExits, RestartBase: f.restartBase, RestartMax: 10 * f.restartBase,
		StopGrace: 2 * time.Second, Signals: sigs, Log: log,
		Hook: func(point string) { killAt(f.dataDir, point, 0) },
	})
	if err != nil {
		log.Error("supervisor", "err", err)
		return 1
	}
	return 0
}

func agent(args []string) int {
	f := parse(args)
	conn, err := supervisor.Attach()
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakeagent:", err)
		return 2
	}
	var info ota.BootInfo
	if conn != nil {
		info = conn.Info()
		defer conn.Close()
	}
	rec := &recorder{path: filepath.Join(f.dataDir, "agent.log")}
	rec.add(map[string]any{"what": "start", "version": version, "slot": info.Slot, "trial": info.Trial, "pid": os.Getpid(), "mode": mode})
	switch mode {
	case "reexec":
		if os.Getenv("FAKEAGENT_REEXECED") == "" {
			self, _ := os.Executable()
			conn.Close()
			err := syscall.Exec(self, os.Args, append(os.Environ(), "FAKEAGENT_REEXECED=1"))
			fmt.Fprintln(os.Stderr, "fakeagent: re-exec:", err)
			return 1
		}
	case "crash":
		rec.add(map[string]any{"what": "exit", "version": version, "code": 3})
		return 3
	case "hang":
		signal.Ignore(syscall.SIGTERM, syscall.SIGINT)
		select {}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	switched := make(chan struct{})
	var once sync.Once
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("pid", os.Getpid(), "role", "agent", "version", version)
	var sup ota.Supervisor
	if conn != nil {
		sup = conn
	}
	u := ota.New(ota.Options{
		Layout: ota.NewLayout(f.dataDir), Keys: keys(f.keys), Version: version, Boot: info, Supervisor: sup, Log: log,
		Checkpoint: f.checkpoint, RetryBase: 10 * time.Millisecond, RetryMax: 200 * time.Millisecond,
		Report: func(typ string, data map[string]any) {
			rec.add(map[string]any{"what": "event", "version": version, "type": typ, "data": data})
		},
		Switch: func() { once.Do(func() { close(switched) }) },
		Hook:   func(point string, n int64) { killAt(f.dataDir, point, n) },
	})
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		u.Run(runCtx)
	}()
	u.SetBusy("")
	switch mode {
	case "good", "crashlater", "reexec":
		u.Healthy()
	case "nohealth":
		if conn != nil {
			conn.ReportStatus(ctx, "broker not connected")
		}
	}
	if f.manifest != "" {
		raw, err := os.ReadFile(f.manifest)
		if err == nil {
			acc, err := u.Submit(ctx, raw)
			r := map[string]any{"what": "submit", "version": version, "state": acc.State, "resumed": acc.Resumed}
			if err != nil {
				r["code"] = ota.Code(err)
				r["error"] = err.Error()
			}
			rec.add(r)
		}
	}
	if mode == "crashlater" {
		// Crash once the commit (if any) is through.
		for deadline := time.Now().Add(2 * time.Second); u.Status().Trial && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond)
		cancel()
		<-done
		rec.add(map[string]any{"what": "exit", "version": version, "code": 4})
		return 4
	}
	code := 0
	select {
	case <-ctx.Done():
	case <-switched:
		code = supervisor.ExitSwitch
	}
	cancel()
	<-done
	rec.add(map[string]any{"what": "exit", "version": version, "code": code, "status": u.Status()})
	return code
}

// recorder appends JSON lines, one writer at a time.
type recorder struct {
	mu   sync.Mutex
	path string
}

func (r *recorder) add(v map[string]any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v["ts"] = time.Now().UnixMilli()
	b, _ := json.Marshal(v)
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return
	}
	f.Write(append(b, '\n'))
	f.Close()
}

// killAt SIGKILLs this process (and, for WHO=both, its parent, the
// supervisor) the first time POINT is reached.
func killAt(dataDir, point string, n int64) {
	spec := os.Getenv("LOAXA_TEST_KILL")
	if spec == "" {
		return
	}
	want, who, _ := strings.Cut(spec, "@")
	wantPoint, wantN, hasN := strings.Cut(want, ":")
	what := fmt.Sprintf("%s %d", point, n)
	switch {
	case point == "download" && wantPoint == "download" && hasN:
		wantN, waitSaved := strings.CutSuffix(wantN, "+saved")
		off, _ := strconv.ParseInt(wantN, 10, 64)
		if n < off {
			return
		}
		doc, err := ota.FileStore{Path: ota.NewLayout(dataDir).UpdateDoc()}.Load()
		if err != nil || doc.Update == nil {
			return
		}
		if waitSaved && doc.Update.Offset == 0 {
			return
		}
		what = fmt.Sprintf("%s saved %d", what, doc.Update.Offset)
	case point == want:
	default:
		return
	}
	marker, err := os.OpenFile(filepath.Join(dataDir, "killed"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if errors.Is(err, os.ErrExist) || err != nil {
		return
	}
	fmt.Fprintf(marker, "%s %d %d\n", what, os.Getpid(), time.Now().UnixMilli())
	marker.Close()
	if who == "both" && !strings.HasPrefix(point, "boot:") {
		syscall.Kill(os.Getppid(), syscall.SIGKILL)
	}
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}
