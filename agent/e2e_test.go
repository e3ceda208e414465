package agent_test

// End-to-end tests: the agent on simulated hardware against a real
// mosquitto, driven the way an operator would drive it.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loaxa/loaxa/agent"
	"github.com/loaxa/loaxa/agent/config"
	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/audio/player"
	"github.com/loaxa/loaxa/internal/clock"
	"github.com/loaxa/loaxa/internal/mqtttest"
	"github.com/loaxa/loaxa/internal/testbin"
	"github.com/loaxa/loaxa/internal/testenv"
	"github.com/loaxa/loaxa/sim"
)

type pole struct {
	id     string
	dir    string
	topics wire.Topics
	sim    *sim.Hardware
	cancel context.CancelFunc
	done   chan error
}

// startPole runs an agent in this process on simulated hardware.
func startPole(t testing.TB, b *mqtttest.Broker, id, dir string, edit func(*config.Config)) *pole {
	t.Helper()
	return startPoleWith(t, b, id, dir, poleOptions{edit: edit})
}

// poleOptions vary an in-process pole.
type poleOptions struct {
	edit func(*config.Config)
	// memoryPins keeps the simulated pins in memory only: a real GPIO
	// write does not fsync a file, so benchmarks use this.
	memoryPins bool
	// audio, when set, builds the pole's player from its configuration.
	audio func(*config.Config) (*player.Player, agent.SourceOpener)
}

func startPoleWith(t testing.TB, b *mqtttest.Broker, id, dir string, o poleOptions) *pole {
	t.Helper()
	cfg := config.Default()
	cfg.ID = id
	cfg.DataDir = dir
	cfg.MQTT.Broker = b.URL()
	cfg.Groups = []string{"xa-test"}
	if o.edit != nil {
		o.edit(cfg)
	}
	simDir := filepath.Join(dir, "sim")
	if o.memoryPins {
		simDir = ""
	}
	hw, err := sim.NewHardware(simDir, cfg.Hardware.Layout, clock.Real{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hw.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil)).With("pole", id)
	}
	opts := agent.Options{Config: cfg, ConfigPath: filepath.Join(dir, "loaxa.toml"), Hardware: hw.HAL(), Log: log, Version: "e2e"}
	if o.audio != nil {
		opts.Player, opts.OpenSource = o.audio(cfg)
	}
	a, err := agent.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &pole{id: id, dir: dir, topics: wire.Topics{Root: cfg.TopicRoot, ID: id}, sim: hw, cancel: cancel, done: make(chan error, 1)}
	go func() { p.done <- a.Run(ctx) }()
	t.Cleanup(p.stop)
	return p
}

func (p *pole) stop() {
	p.cancel()
	<-p.done
	p.done <- nil // later stops return at once
}

// until returns the first message on ch for which ok is true. On a
// timeout it shows the messages it skipped, to tell "never sent" from
// "sent, but not as expected".
func until(t *testing.T, ch <-chan mqtttest.Message, what string, ok func(mqtttest.Message) bool) mqtttest.Message {
	t.Helper()
	return untilWithin(t, ch, what, 2*mqtttest.WaitTimeout, ok)
}

// untilWithin is until with its own bound, for what takes long by design
// (a fallback after mqtt.fallback_after_s, say).
func untilWithin(t *testing.T, ch <-chan mqtttest.Message, what string, d time.Duration, ok func(mqtttest.Message) bool) mqtttest.Message {
	t.Helper()
	deadline := time.After(d)
	var skipped []string
	for {
		select {
		case m := <-ch:
			if ok(m) {
				return m
			}
			skipped = append(skipped, m.String())
		case <-deadline:
			t.Fatalf("never saw %s within %v; skipped meanwhile:\n%s", what, d, strings.Join(skipped, "\n"))
		}
	}
}

// untilAll waits until every predicate has matched a message, in any
// order, and returns the first match of each.
func untilAll(t *testing.T, ch <-chan mqtttest.Message, preds ...func(mqtttest.Message) bool) []mqtttest.Message {
	t.Helper()
	return untilAllWithin(t, ch, 2*mqtttest.WaitTimeout, preds...)
}

// untilAllWithin is untilAll with its own bound, for what takes long by
// design (the modem's readings come every 10 s, say).
func untilAllWithin(t *testing.T, ch <-chan mqtttest.Message, d time.Duration, preds ...func(mqtttest.Message) bool) []mqtttest.Message {
	t.Helper()
	got := make([]mqtttest.Message, len(preds))
	found := make([]bool, len(preds))
	left := len(preds)
	deadline := time.After(d)
	var seen []string
	for left > 0 {
		select {
		case m := <-ch:
			seen = append(seen, m.String())
			for i, ok := range preds {
				if !found[i] && ok(m) {
					got[i], found[i] = m, true
					left--
				}
			}
		case <-deadline:
			t.Fatalf("saw only %v of the expected messages within %v; seen:\n%s", found, d, strings.Join(seen, "\n"))
		}
	}
	return got
}

func decode[T any](t *testing.T, m mqtttest.Message) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(m.Payload, &v); err != nil {
		t.Fatalf("%s: %v", m, err)
	}
	return v
}

func onTopic(topic string) func(mqtttest.Message) bool {
	return func(m mqtttest.Message) bool { return m.Topic == topic }
}

func statusIs(topic string, online bool, session uint64) func(mqtttest.Message) bool {
	return func(m mqtttest.Message) bool {
		if m.Topic != topic {
			return false
		}
		var s wire.Status
		json.Unmarshal(m.Payload, &s)
		return s.Online == online && (session == 0 || s.Session == session)
	}
}

func ackFor(topics wire.Topics, id string) func(mqtttest.Message) bool {
	return func(m mqtttest.Message) bool {
		return m.Topic == topics.Ack() && strings.Contains(string(m.Payload), fmt.Sprintf(`"id":%q`, id))
	}
}

func TestE2ECommandsStateAndTelemetry(t *testing.T) {
	b := mqtttest.Start(t)
	op := mqtttest.Client(t, b, "operator")
	watch := b.Subscribe(t, "loaxa/v1/dev/pole-e2e/#")
	p := startPole(t, b, "pole-e2e", t.TempDir(), nil)

	// On connect: status, state and telemetry. The broker may hand the
	// QoS 0 telemetry over ahead of QoS 1 messages still in flight, so the
	// order is not checked.
	first := untilAll(t, watch, statusIs(p.topics.Status(), true, 0), onTopic(p.topics.State()), onTopic(p.topics.Tele()))
	st := decode[wire.Status](t, first[0])
	if !st.Online || st.Session != 1 || st.Version != "e2e" {
		t.Fatalf("status %+v", st)
	}
	tele := decode[map[string]any](t, first[2])
	for _, k := range []string{"uptime_s", "mem_rss_bytes", "cpu_temp_c", "load1", "disk_free_bytes", "mqtt", "audio", "modem", "gnss", "inputs"} {
		if _, ok := tele[k]; !ok {
			t.Errorf("telemetry lacks %s", k)
		}
	}

	mqtttest.Publish(t, op, p.topics.Cmd(), 1, false, []byte(`{"id":"e1","cmd":"zones","args":{"on":["z1"]}}`))
	got := untilAll(t, watch, ackFor(p.topics, "e1"), func(m mqtttest.Message) bool {
		return m.Topic == p.topics.State() && strings.Contains(string(m.Payload), `"z1":true`)
	})
	ack := decode[wire.Ack](t, got[0])
	if !ack.OK {
		t.Fatalf("ack %+v", ack)
	}
	state := decode[wire.State](t, got[1])
	if on, _ := p.sim.Level("GPIO17"); !on || state.Zones["z2"] {
		t.Fatalf("pin GPIO17 on=%v, state %+v", on, state.Zones)
	}

	// Group commands: "all" always, and the configured group; each answers
	// on the device's own ack topic.
	for i, g := range []string{"all", "xa-test"} {
		id := fmt.Sprintf("g%d", i)
		mqtttest.Publish(t, op, p.topics.GroupCmd(g), 1, false, []byte(fmt.Sprintf(`{"id":%q,"cmd":"volume","args":{"level":%d}}`, id, 40+i)))
		if ack := decode[wire.Ack](t, until(t, watch, "ack "+id, ackFor(p.topics, id))); !ack.OK {
			t.Fatalf("group %s ack %+v", g, ack)
		}
	}
	mqtttest.Publish(t, op, p.topics.Cmd(), 1, false, []byte(`{"id":"e2","cmd":"status"}`))
	ack = decode[wire.Ack](t, until(t, watch, "ack e2", ackFor(p.topics, "e2")))
	if res, _ := json.Marshal(ack.Result); !strings.Contains(string(res), `"volume":41`) {
		t.Fatalf("status after group volume: %s", res)
	}
	// Garbage gets an ack with an empty id; the agent keeps serving.
	mqtttest.Publish(t, op, p.topics.Cmd(), 1, false, []byte("\x00\x01garbage"))
	bad := decode[wire.Ack](t, until(t, watch, "ack for garbage", func(m mqtttest.Message) bool {
		return m.Topic == p.topics.Ack() && strings.Contains(string(m.Payload), `"bad_request"`)
	}))
	if bad.ID != "" || bad.OK {
		t.Fatalf("garbage ack %+v", bad)
	}
	mqtttest.Publish(t, op, p.topics.Cmd(), 1, false, []byte(`{"id":"e3","cmd":"ping"}`))
	until(t, watch, "ack e3 after garbage", ackFor(p.topics, "e3"))
}

func TestE2EBrokerRestartQueuedCommandRunsOnce(t *testing.T) {
	b := mqtttest.Start(t)
	dir := t.TempDir()
	watch := b.Subscribe(t, "loaxa/v1/dev/pole-q/#")
	p := startPole(t, b, "pole-q", dir, nil)
	until(t, watch, "online 1", statusIs(p.topics.Status(), true, 1))

	// The broker dies hard and comes back: the agent reconnects by itself
	// and publishes its state again.
	b.Kill()
	b.Restart()
	watch = b.Subscribe(t, "loaxa/v1/dev/pole-q/#")
	until(t, watch, "online 2 after broker restart", statusIs(p.topics.Status(), true, 2))
	until(t, watch, "state after reconnect", onTopic(p.topics.State()))

	// The agent goes away cleanly; the broker queues a command for its
	// persistent session, survives a restart, and delivers it once.
	p.stop()
	until(t, watch, "offline after clean stop", statusIs(p.topics.Status(), false, 2))
	op := mqtttest.Client(t, b, "operator")
	mqtttest.Publish(t, op, p.topics.Cmd(), 1, false, []byte(`{"id":"q1","cmd":"zones","args":{"on":["z3"]}}`))
	b.Restart()
	watch = b.Subscribe(t, "loaxa/v1/dev/pole-q/#")
	p2 := startPole(t, b, "pole-q", dir, nil)
	first := until(t, watch, "ack q1 from the queue", ackFor(p2.topics, "q1"))
	if on, _ := p2.sim.Level("GPIO22"); !on {
		t.Fatal("queued zones command not executed")
	}
	n := len(p2.sim.Transitions())
	op = mqtttest.Client(t, b, "operator2")
	// The same id again, as a QoS 1 redelivery would bring it; then a new
	// command; then the old id once more. Each answer is awaited before the
	// next message, so a missing one is pinned to its cause.
	mqtttest.Publish(t, op, p2.topics.Cmd(), 1, false, []byte(`{"id":"q1","cmd":"zones","args":{"on":["z3"]}}`))
	again := until(t, watch, "ack q1 again", ackFor(p2.topics, "q1"))
	mqtttest.Publish(t, op, p2.topics.Cmd(), 1, false, []byte(`{"id":"q2","cmd":"zones","args":{"off":["z3"]}}`))
	until(t, watch, "ack q2", ackFor(p2.topics, "q2"))
	mqtttest.Publish(t, op, p2.topics.Cmd(), 1, false, []byte(`{"id":"q1","cmd":"zones","args":{"on":["z3"]}}`))
	again2 := until(t, watch, "ack q1 a third time", ackFor(p2.topics, "q1"))
	if !bytes.Equal(first.Payload, again.Payload) || !bytes.Equal(first.Payload, again2.Payload) {
		t.Fatalf("re-sent ack differs:\n%s\n%s", first.Payload, again.Payload)
	}
	if on, _ := p2.sim.Level("GPIO22"); on || len(p2.sim.Transitions()) != n+1 {
		t.Fatalf("z3 on=%v; transitions after the first execution: %v", on, p2.sim.Transitions()[n:])
	}
}

func TestE2ERetainedCommandNeverObeyed(t *testing.T) {
	b := mqtttest.Start(t)
	op := mqtttest.Client(t, b, "operator")
	topics := wire.Topics{Root: wire.DefaultRoot, ID: "pole-r"}
	mqtttest.Publish(t, op, topics.Cmd(), 1, true, []byte(`{"id":"stale1","cmd":"zones","args":{"all":true}}`))
	mqtttest.Publish(t, op, topics.GroupCmd("all"), 1, true, []byte(`{"id":"stale2","cmd":"zones","args":{"all":true}}`))
	watch := b.Subscribe(t, "loaxa/v1/dev/pole-r/#")
	p := startPole(t, b, "pole-r", t.TempDir(), nil)
	ignored := func(id string) func(mqtttest.Message) bool {
		return func(m mqtttest.Message) bool {
			return m.Topic == topics.Event() && strings.Contains(string(m.Payload), wire.EventRetainedIgnored) && strings.Contains(string(m.Payload), id)
		}
	}
	// The broker delivers the two retained messages in either order.
	untilAll(t, watch, ignored("stale1"), ignored("stale2"))
	// A later live command is executed: the agent is listening, and it
	// answered nothing for the retained ones.
	mqtttest.Publish(t, op, topics.Cmd(), 1, false, []byte(`{"id":"live1","cmd":"zones","args":{"on":["z4"]}}`))
	ack := until(t, watch, "ack live1", func(m mqtttest.Message) bool { return m.Topic == topics.Ack() })
	if !strings.Contains(string(ack.Payload), `"live1"`) {
		t.Fatalf("first ack is not for the live command: %s", ack.Payload)
	}
	for _, tr := range p.sim.Transitions() {
		if tr.Pin != "GPIO23" {
			t.Errorf("retained command moved %s", tr.Pin)
		}
	}
	// The stale command was removed from the device topic: a new
	// subscriber gets our marker first, not a retained command.
	cmds := b.Subscribe(t, topics.Cmd())
	mqtttest.Publish(t, op, topics.Cmd(), 1, false, []byte(`{"id":"marker","cmd":"ping"}`))
	if m := mqtttest.Next(t, cmds); m.Retained || !strings.Contains(string(m.Payload), "marker") {
		t.Fatalf("device cmd topic still holds %s", m)
	}
}

// runLoaxad starts the real binary as a subprocess.
func runLoaxad(t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	return runLoaxadEnv(t, nil, args...)
}

// runLoaxadEnv starts the real binary with extra environment variables.
func runLoaxadEnv(t testing.TB, env []string, args ...string) *exec.Cmd {
	t.Helper()
	bin, err := testbin.Path("loaxad")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	testenv.DieWithTest(cmd) // even when the test binary is killed
	cmd.Env = append(os.Environ(), env...)
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("loaxad %v log:\n%s", args, logs.String())
		}
	})
	return cmd
}

// terminate stops a loaxad started by runLoaxadEnv as systemd does:
// SIGTERM, then SIGKILL if it has not ended within 10 s. It returns how
// the process ended and whether it ended by itself (runLoaxadEnv's
// cleanup then has nothing left to do).
func terminate(proc *exec.Cmd) (err error, stopped bool) {
	exited := make(chan error, 1)
	go func() { exited <- proc.Wait() }()
	proc.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		return err, true
	case <-time.After(10 * time.Second):
		proc.Process.Kill()
		return <-exited, false
	}
}

func TestE2EKilledAgentGoesOfflineAndRestoresZones(t *testing.T) {
	for _, policy := range []string{"restore", "off"} {
		t.Run(policy, func(t *testing.T) {
			b := mqtttest.Start(t)
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("broker log:\n%s", b.Log())
				}
			})
			dir := t.TempDir()
			cfgPath := filepath.Join(dir, "loaxa.toml")
			os.WriteFile(cfgPath, []byte(fmt.Sprintf("id = \"pole-k\"\npower_on = %q\n[mqtt]\nbroker = %q\n", policy, b.URL())), 0o600)
			topics := wire.Topics{Root: wire.DefaultRoot, ID: "pole-k"}
			watch := b.Subscribe(t, "loaxa/v1/dev/pole-k/#")
			op := mqtttest.Client(t, b, "operator")
			args := []string{"--sim", "--config", cfgPath, "--data-dir", dir}

			first := runLoaxad(t, args...)
			until(t, watch, "online 1", statusIs(topics.Status(), true, 1))
			mqtttest.Publish(t, op, topics.Cmd(), 1, false, []byte(`{"id":"k1","cmd":"zones","args":{"on":["z2"]}}`))
			until(t, watch, "ack k1", ackFor(topics, "k1"))
			first.Process.Signal(syscall.SIGKILL)
			first.Wait()
			until(t, watch, "will: offline 1", statusIs(topics.Status(), false, 1))

			before, err := sim.ReadTransitions(filepath.Join(dir, "sim"))
			if err != nil {
				t.Fatal(err)
			}
			restarted := time.Now().UnixMilli()
			runLoaxad(t, args...)
			// The new session's status and its first state, in whatever
			// order the broker hands them over.
			got := untilAll(t, watch, statusIs(topics.Status(), true, 2), func(m mqtttest.Message) bool {
				var st wire.State
				return m.Topic == topics.State() && json.Unmarshal(m.Payload, &st) == nil && st.TS >= restarted
			})
			st := decode[wire.State](t, got[1])
			after, _ := sim.ReadTransitions(filepath.Join(dir, "sim"))
			levels, _ := sim.ReadLevels(filepath.Join(dir, "sim"))
			want := policy == "restore"
			if st.Zones["z2"] != want || levels["GPIO27"] != want {
				t.Fatalf("after restart with %s: state z2=%v, pin GPIO27=%v", policy, st.Zones["z2"], levels["GPIO27"])
			}
			for _, tr := range after[len(before):] {
				if tr.Pin == "GPIO27" && want {
					t.Errorf("restore glitched the z2 relay: %+v", tr)
				}
			}
		})
	}
}

func TestE2EAlarmWhileBrokerAwayIsDeliveredOnReturn(t *testing.T) {
	b := mqtttest.Start(t)
	watch := b.Subscribe(t, "loaxa/v1/dev/pole-a/#")
	p := startPole(t, b, "pole-a", t.TempDir(), nil)
	until(t, watch, "online 1", statusIs(p.topics.Status(), true, 1))
	b.Stop()
	// The cabinet door opens while the pole cannot reach the province.
	if err := p.sim.SetInput("tamper", true); err != nil {
		t.Fatal(err)
	}
	b.Restart()
	watch = b.Subscribe(t, "loaxa/v1/dev/pole-a/#")
	got := untilAll(t, watch,
		func(m mqtttest.Message) bool {
			return m.Topic == p.topics.Event() && strings.Contains(string(m.Payload), `"type":"alarm"`) && strings.Contains(string(m.Payload), `"tamper"`)
		},
		func(m mqtttest.Message) bool {
			return m.Topic == p.topics.State() && strings.Contains(string(m.Payload), `"name":"tamper"`)
		})
	ev := decode[wire.Event](t, got[0])
	if ev.TS <= 0 {
		t.Errorf("alarm event without its time: %s", got[0].Payload)
	}
}
