package mqtttest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestPublishSubscribe(t *testing.T) {
	b := Start(t)
	if !strings.HasPrefix(b.URL(), "tcp://127.0.0.1:") || b.URL() != "tcp://"+b.Addr() {
		t.Fatalf("URL() = %q, Addr() = %q", b.URL(), b.Addr())
	}
	msgs := b.Subscribe(t, "t/+/x")
	c := Client(t, b, "pub")
	Publish(t, c, "t/a/x", 1, false, []byte("one"))
	Publish(t, c, "t/b/y", 1, false, []byte("not matched"))
	Publish(t, c, "t/c/x", 1, true, []byte("two"))

	if m := Next(t, msgs); m.Topic != "t/a/x" || string(m.Payload) != "one" || m.Retained {
		t.Errorf("first message = %v, want t/a/x: one, not retained", m)
	}
	// A live subscriber gets a retained publish with the retain flag clear
	// (MQTT 3.1.1 §3.3.1.3); a later subscriber gets it retained.
	if m := Next(t, msgs); m.Topic != "t/c/x" || string(m.Payload) != "two" || m.Retained {
		t.Errorf("second message = %v, want t/c/x: two, not retained", m)
	}
	late := b.Subscribe(t, "t/#")
	if m := Next(t, late); m.Topic != "t/c/x" || string(m.Payload) != "two" || !m.Retained {
		t.Errorf("late subscriber got %v, want t/c/x: two (retained)", m)
	}
	if !strings.Contains(b.Log(), "mosquitto version") {
		t.Errorf("Log() lacks mosquitto's startup line:\n%s", b.Log())
	}
}

// The point of persistence: a pole whose session survives (clean session
// off) gets the QoS 1 command the broker queued for it, even across a
// broker restart.
func TestRestartKeepsQueuedMessage(t *testing.T) {
	b := Start(t)
	const topic = "loaxa/v1/dev/pole-1/cmd"

	got := make(chan Message, 4)
	opts := ClientOptions(b, "pole-1").SetCleanSession(false).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			got <- Message{Topic: m.Topic(), Payload: append([]byte(nil), m.Payload()...), Retained: m.Retained(), QoS: m.Qos()}
		})
	pole := mqtt.NewClient(opts)
	Wait(t, pole.Connect(), "connect pole")
	Wait(t, pole.Subscribe(topic, 1, nil), "subscribe pole")
	pole.Disconnect(100)

	Publish(t, Client(t, b, "operator"), topic, 1, false, []byte(`{"id":"c-1","cmd":"ping"}`))
	b.Restart()
	b.Restart() // twice: the queue must survive being loaded and saved again

	pole = Connect(t, opts)
	if m := Next(t, got); m.Topic != topic || string(m.Payload) != `{"id":"c-1","cmd":"ping"}` {
		t.Errorf("after restart the pole got %v, want the queued command", m)
	}
	_ = pole
}

func TestStopKillRestart(t *testing.T) {
	b := Start(t)
	addr := b.Addr()

	b.Stop()
	b.Stop() // safe twice
	if b.Running() {
		t.Fatal("Running() after Stop")
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after Stop", addr)
	}

	b.Restart()
	if !b.Running() || b.Addr() != addr {
		t.Fatalf("after Restart: running %v, addr %s, want running on %s", b.Running(), b.Addr(), addr)
	}
	Client(t, b, "after-restart") // connects or fails the test

	b.Kill()
	b.Kill()
	if b.Running() {
		t.Fatal("Running() after Kill")
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after Kill", addr)
	}
	b.Restart()
	Client(t, b, "after-kill")
	if !strings.Contains(b.Log(), "restart") {
		t.Errorf("Log() does not mark the restarts:\n%s", b.Log())
	}
}

// After WaitDisconnected every QoS 0 message the client sent is ahead of
// a marker published then, so "exactly these and no more" is checked by
// reading up to the marker: after a clean DISCONNECT, and after a socket
// that just closes, as when a process dies.
func TestWaitDisconnectedOrdersAMarkerLast(t *testing.T) {
	b := Start(t)
	got := make(chan Message, 1024)
	sub := Connect(t, ClientOptions(b, "sub").SetOrderMatters(true))
	Wait(t, sub.Subscribe("talk", 0, func(_ mqtt.Client, m mqtt.Message) {
		got <- Message{Topic: m.Topic(), Payload: append([]byte(nil), m.Payload()...)}
	}), "subscribe")
	const n = 200
	talk := map[string]func(id string){
		"disconnect": func(id string) {
			c := mqtt.NewClient(ClientOptions(b, id))
			Wait(t, c.Connect(), "connect talker")
			for i := range n {
				Wait(t, c.Publish("talk", 0, false, []byte(fmt.Sprint(i))), "publish")
			}
			c.Disconnect(250)
		},
		"socket closed": func(id string) {
			c, err := net.Dial("tcp", b.Addr())
			if err != nil {
				t.Fatal(err)
			}
			// MQTT 3.1.1 by hand: CONNECT (clean session, keep-alive 60 s),
			// read the CONNACK, then n QoS 0 PUBLISHes in one write, and close.
			connect := append([]byte{0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60}, str(id)...)
			c.Write(append([]byte{0x10, byte(len(connect))}, connect...))
			if _, err := io.ReadFull(c, make([]byte, 4)); err != nil {
				t.Fatalf("CONNACK: %v", err)
			}
			var burst []byte
			for i := range n {
				p := append(str("talk"), fmt.Sprint(i)...)
				burst = append(append(burst, 0x30, byte(len(p))), p...)
			}
			c.Write(burst)
			c.Close()
		},
	}
	for how, send := range talk {
		id := "talker-" + randomSuffix()
		send(id)
		b.WaitDisconnected(t, id)
		Publish(t, Client(t, b, "marker-"+randomSuffix()), "talk", 0, false, []byte("marker"))
		count := 0
		for m := Next(t, got); string(m.Payload) != "marker"; m = Next(t, got) {
			if string(m.Payload) != fmt.Sprint(count) {
				t.Fatalf("%s: message %d is %q", how, count, m.Payload)
			}
			count++
		}
		if count != n {
			t.Errorf("%s: %d messages before the marker, want %d", how, count, n)
		}
	}
}

// str is an MQTT string: a 16-bit big-endian length and the bytes.
func str(s string) []byte { return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...) }

// A test binary killed by go test's -timeout never runs Cleanup; its
// broker must not outlive it.
func TestBrokerDiesWithTheTestProcess(t *testing.T) {
	if os.Getenv("MQTTTEST_CHILD") == "1" {
		b := Start(t)
		fmt.Println("PID", b.pid())
		os.Stdout.Sync()
		select {} // killed by the parent
	}
	if runtime.GOOS != "linux" {
		t.Skip("parent-death signal is Linux-only")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestBrokerDiesWithTheTestProcess$")
	cmd.Env = append(os.Environ(), "MQTTTEST_CHILD=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if _, err := fmt.Sscanf(sc.Text(), "PID %d", &pid); err == nil {
			break
		}
	}
	if pid == 0 {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("the child test did not report its broker's pid")
	}
	cmd.Process.Kill()
	cmd.Wait()
	deadline := time.Now().Add(WaitTimeout)
	for alive(pid) { // readiness poll: the kernel kills it asynchronously
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("mosquitto %d outlived its killed test process", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// alive reports whether pid runs; a zombie (dead, not yet reaped by an init
// that may never reap it) counts as dead.
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name: "pid (comm) S ...".
	i := strings.LastIndexByte(string(stat), ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}
