package agent_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/internal/mqtttest"
	"github.com/loaxa/loaxa/internal/testbin"
	"github.com/loaxa/loaxa/internal/testenv"
)

// realPole runs the real loaxad binary (--sim) against b, its log going to
// a pipe (as to journald, so no log file counts in its disk writes).
type realPole struct {
	cmd    *exec.Cmd
	topics wire.Topics
	dir    string
}

func startRealPole(tb testing.TB, b *mqtttest.Broker, id string, extra ...string) *realPole {
	tb.Helper()
	bin, err := testbin.Path("loaxad")
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	args := append([]string{"--sim", "--broker", b.URL(), "--id", id, "--data-dir", dir}, extra...)
	cmd := exec.Command(bin, args...)
	testenv.DieWithTest(cmd)
	out, err := cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go io.Copy(io.Discard, out)
	tb.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	})
	return &realPole{cmd: cmd, topics: wire.Topics{Root: wire.DefaultRoot, ID: id}, dir: dir}
}

// writeBytes is what the process caused to be written to storage so far
// (/proc/PID/io write_bytes: counted when pages are dirtied).
func (p *realPole) writeBytes(tb testing.TB) int64 {
	tb.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/io", p.cmd.Process.Pid))
	if err != nil {
		tb.Skipf("no /proc/PID/io here: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "write_bytes: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	tb.Fatal("no write_bytes in /proc/PID/io")
	return 0
}

// rtt sends one command and waits for its ack on ch, returning the round
// trip.
func rtt(tb testing.TB, op mqtt.Client, topic string, acks <-chan string, id, payload string) time.Duration {
	tb.Helper()
	start := time.Now()
	op.Publish(topic, 1, false, payload)
	deadline := time.After(mqtttest.WaitTimeout)
	for {
		select {
		case got := <-acks:
			if got == id {
				return time.Since(start)
			}
		case <-deadline:
			tb.Fatalf("no ack for %s", id)
		}
	}
}

// ackIDs subscribes to topic and sends the id of every ack received.
func ackIDs(tb testing.TB, b *mqtttest.Broker, topic string) <-chan string {
	ch := make(chan string, 64)
	cl := mqtttest.Connect(tb, mqtttest.ClientOptions(b, "acks-"+strings.ReplaceAll(topic, "/", "-")).SetOrderMatters(true))
	mqtttest.Wait(tb, cl.Subscribe(topic, 1, func(_ mqtt.Client, m mqtt.Message) {
		var a struct{ ID string }
		json.Unmarshal(m.Payload(), &a)
		select {
		case ch <- a.ID:
		default:
		}
	}), "subscribe "+topic)
	return ch
}

// BenchmarkCommandToAck measures what the agent adds to a command's round
// trip: 1,000 volume commands alternating two levels (a state change that
// moves no relay), through mosquitto with set_tcp_nodelay, to the real
// loaxad binary and, interleaved in the same run, to an echo client that
// answers each command at once. The difference of their quantiles is the
// agent's part (decode, handler, journal append, outbox). It also reports
// the bytes the agent wrote to storage per 1,000 pings and per 1,000
// volume changes (/proc/PID/io write_bytes).
//
//	go test -run '^$' -bench CommandToAck -benchtime 1x ./agent/
func BenchmarkCommandToAck(b *testing.B) {
	br := mqtttest.Start(b)
	pole := startRealPole(b, br, "pole-ack")
	status := br.Subscribe(b, pole.topics.Status())
	mqtttest.Next(b, status) // online
	poleAcks := ackIDs(b, br, pole.topics.Ack())

	// The echo client: the broker's hops and paho's, without an agent.
	echo := wire.Topics{Root: wire.DefaultRoot, ID: "echo"}
	ec := mqtttest.Connect(b, mqtttest.ClientOptions(br, "echo").SetOrderMatters(true))
	mqtttest.Wait(b, ec.Subscribe(echo.Cmd(), 1, func(c mqtt.Client, m mqtt.Message) {
		var cmd struct{ ID string }
		json.Unmarshal(m.Payload(), &cmd)
		c.Publish(echo.Ack(), 1, false, fmt.Sprintf(`{"id":%q,"ok":true,"result":{"volume":1},"ts":0}`, cmd.ID))
	}), "subscribe echo")
	echoAcks := ackIDs(b, br, echo.Ack())
	op := mqtttest.Connect(b, mqtttest.ClientOptions(br, "bench-op").SetOrderMatters(true))

	const n = 1000
	for range b.N {
		var agentRTT, echoRTT []time.Duration
		w0 := pole.writeBytes(b)
		for i := range n {
			id := fmt.Sprintf("p%d", i)
			rtt(b, op, pole.topics.Cmd(), poleAcks, id, fmt.Sprintf(`{"id":%q,"cmd":"ping"}`, id))
		}
		time.Sleep(300 * time.Millisecond) // past the syncer's interval: its writes count
		w1 := pole.writeBytes(b)
		for i := range n {
			id := fmt.Sprintf("v%d", i)
			level := 40 + 20*(i%2)
			agentRTT = append(agentRTT, rtt(b, op, pole.topics.Cmd(), poleAcks, id, fmt.Sprintf(`{"id":%q,"cmd":"volume","args":{"level":%d}}`, id, level)))
			echoRTT = append(echoRTT, rtt(b, op, echo.Cmd(), echoAcks, "e"+id, fmt.Sprintf(`{"id":"e%s","cmd":"volume","args":{"level":%d}}`, id, level)))
		}
		time.Sleep(300 * time.Millisecond)
		w2 := pole.writeBytes(b)

		b.ReportMetric(float64(pct(agentRTT, 50).Microseconds()), "agent-rtt-p50-µs")
		b.ReportMetric(float64(pct(agentRTT, 99).Microseconds()), "agent-rtt-p99-µs")
		b.ReportMetric(float64(pct(echoRTT, 50).Microseconds()), "echo-rtt-p50-µs")
		b.ReportMetric(float64(pct(echoRTT, 99).Microseconds()), "echo-rtt-p99-µs")
		b.ReportMetric(float64((pct(agentRTT, 50) - pct(echoRTT, 50)).Microseconds()), "added-p50-µs")
		b.ReportMetric(float64((pct(agentRTT, 99) - pct(echoRTT, 99)).Microseconds()), "added-p99-µs")
		b.ReportMetric(float64(w1-w0), "bytes-written/1000-pings")
		b.ReportMetric(float64(w2-w1), "bytes-written/1000-volumes")
	}
	b.ReportMetric(0, "ns/op")
}
