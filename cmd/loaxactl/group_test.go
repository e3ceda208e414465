package main

import (
	"strings"
	"testing"
	"time"

	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/internal/mqtttest"
)

func TestSendGroup(t *testing.T) {
	h := newHarness(t)
	h.device("pole-c", []string{"north"}, okWith(`{"version":"1.0"}`))
	h.device("pole-a", []string{"north"}, failWith(wire.CodeBusy, "emergency is playing"))
	silent := h.device("pole-b", []string{"north"}, nil)
	outsider := h.device("pole-x", []string{"south"}, okWith(""))

	r := h.start("send", "--group", "north", "ping")
	silent.next(t) // the command reached the whole group
	waitFor(t, "two acks", func() bool { return h.acked.Load() == 2 })
	h.clk.Advance(DefaultGroupTimeout)
	code, stdout, stderr := r.wait()

	want := "" +
		"DEVICE  OK   RESULT/ERROR\n" +
		"pole-a  no   busy: emergency is playing\n" +
		"pole-c  yes  {\"version\":\"1.0\"}\n" +
		"2 acks (1 failed)\n"
	if code != ExitFailed || stdout != want {
		t.Errorf("= %d, stdout:\n%s\nwant %d, stdout:\n%s\nstderr: %s", code, stdout, ExitFailed, want, stderr)
	}
	select {
	case m := <-outsider.got:
		t.Errorf("a pole outside the group got %v", m)
	default:
	}
}

func TestSendGroupAllOK(t *testing.T) {
	h := newHarness(t)
	h.device("pole-a", []string{"all"}, okWith(""))
	d := h.device("pole-b", []string{"all"}, okWith(""))

	r := h.start("--json", "send", "--group", "all", "zones", `{"all":false}`)
	waitFor(t, "two acks", func() bool { return h.acked.Load() == 2 })
	h.clk.Advance(DefaultGroupTimeout)
	code, stdout, stderr := r.wait()
	want := `{"device":"pole-a","ack":{"id":"c-1","cmd":"zones","ok":true,"ts":1764064800000}}` + "\n" +
		`{"device":"pole-b","ack":{"id":"c-1","cmd":"zones","ok":true,"ts":1764064800000}}` + "\n"
	if code != ExitOK || stdout != want {
		t.Errorf("= %d, stdout:\n%s\nwant 0, stdout:\n%s\nstderr: %s", code, stdout, want, stderr)
	}
	if m := d.next(t); m.Topic != "loaxa/v1/grp/all/cmd" {
		t.Errorf("published on %s, want loaxa/v1/grp/all/cmd", m.Topic)
	}
}

func TestSendGroupNoAcks(t *testing.T) {
	h := newHarness(t)
	silent := h.device("pole-a", []string{"north"}, nil)

	r := h.start("send", "--group", "north", "--timeout", "30s", "ping")
	silent.next(t)
	h.armed()
	h.clk.Advance(30 * time.Second)
	code, stdout, stderr := r.wait()
	if code != ExitTimeout || stdout != "" || !strings.Contains(stderr, "no ack from group north within 30s") {
		t.Errorf("= %d, stdout %q, stderr %q; want %d and no ack from group north", code, stdout, stderr, ExitTimeout)
	}
}

// newPublisher returns a function publishing through a test client.
func newPublisher(t *testing.T, h *harness) func(topic string, retained bool, payload string) {
	cl := mqtttest.Client(t, h.b, "test-publisher")
	return func(topic string, retained bool, payload string) {
		t.Helper()
		mqtttest.Publish(t, cl, topic, 1, retained, []byte(payload))
	}
}
