package mqtttest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// aclBroker runs mosquitto with scripts/mosquitto-acl.example plus the
// group blocks of two poles: pole-a in hamlet-1, pole-b in hamlet-2.
func aclBroker(t *testing.T, listener ...string) *Broker {
	t.Helper()
	example, err := os.ReadFile(filepath.Join("..", "..", "scripts", "mosquitto-acl.example"))
	if err != nil {
		t.Fatal(err)
	}
	acl := string(example) + "\nuser pole-a\ntopic read loaxa/v1/grp/hamlet-1/cmd\n" +
		"user pole-b\ntopic read loaxa/v1/grp/hamlet-2/cmd\n"
	path := filepath.Join(t.TempDir(), "loaxa.acl")
	if err := os.WriteFile(path, []byte(acl), 0o600); err != nil {
		t.Fatal(err)
	}
	return StartWith(t, Options{
		Users:    map[string]string{"operator": "op-secret", "pole-a": "a-secret", "pole-b": "b-secret"},
		ACLFile:  path,
		Listener: listener,
	})
}

// inbox collects what one client receives.
type inbox struct {
	mu   sync.Mutex // guards msgs
	msgs []Message
}

func (in *inbox) handler(_ mqtt.Client, m mqtt.Message) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.msgs = append(in.msgs, Message{Topic: m.Topic(), Payload: append([]byte(nil), m.Payload()...)})
}

// until waits for a message with this payload and returns everything
// received before it, in order.
func (in *inbox) until(t *testing.T, payload string) []string {
	t.Helper()
	deadline := time.Now().Add(WaitTimeout)
	for {
		in.mu.Lock()
		var got []string
		for _, m := range in.msgs {
			if string(m.Payload) == payload {
				in.mu.Unlock()
				return got
			}
			got = append(got, m.Topic+" "+string(m.Payload))
		}
		in.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no %q; received %q", payload, got)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestPoleACL: under the example ACL a pole reports and listens as itself
// only; it cannot publish as another pole, command another pole or a
// group, or read another pole's or another group's commands; an operator
// reads and writes everything; nobody gets in without a password.
func TestPoleACL(t *testing.T) {
	b := aclBroker(t)
	// Both receive in order (the package's clients run handlers
	// concurrently): the checks below read "everything before the marker".
	operator := Connect(t, ClientAs(b, "loaxactl-1", "operator", "op-secret").SetOrderMatters(true))
	seen := &inbox{}
	Wait(t, operator.Subscribe("loaxa/v1/#", 1, seen.handler), "operator subscribes to everything")

	poleA := Connect(t, ClientAs(b, "pole-a", "pole-a", "a-secret").SetOrderMatters(true))
	// Forgeries first, then a marker on pole-a's own topic: messages from
	// one client reach a subscriber in order, so what the operator got
	// before the marker is everything that went through.
	for _, topic := range []string{
		"loaxa/v1/dev/pole-b/state", "loaxa/v1/dev/pole-b/ack", "loaxa/v1/dev/pole-b/status",
		"loaxa/v1/dev/pole-b/cmd", "loaxa/v1/dev/pole-a/cmd", "loaxa/v1/grp/all/cmd",
		"loaxa/v1/grp/hamlet-1/cmd", "loaxa/v1/live/commune", "loaxa/v1/dev/pole-a/other",
	} {
		Publish(t, poleA, topic, 1, false, []byte("forged by pole-a"))
	}
	for _, leaf := range []string{"ack", "status", "state", "tele", "event"} {
		Publish(t, poleA, "loaxa/v1/dev/pole-a/"+leaf, 1, false, []byte("own "+leaf))
	}
	Publish(t, poleA, "loaxa/v1/dev/pole-a/event", 1, false, []byte("marker 1"))
	got := seen.until(t, "marker 1")
	want := []string{"loaxa/v1/dev/pole-a/ack own ack", "loaxa/v1/dev/pole-a/status own status",
		"loaxa/v1/dev/pole-a/state own state", "loaxa/v1/dev/pole-a/tele own tele", "loaxa/v1/dev/pole-a/event own event"}
	if !slices.Equal(got, want) {
		t.Errorf("the operator received from pole-a:\n%q\nwant only its own reports:\n%q", got, want)
	}

	// A pole that connects under another pole's client id is still
	// itself: the patterns follow the user name.
	spoof := Connect(t, ClientAs(b, "pole-b", "pole-a", "a-secret"))
	Publish(t, spoof, "loaxa/v1/dev/pole-b/state", 1, false, []byte("forged under pole-b's client id"))
	Publish(t, spoof, "loaxa/v1/dev/pole-a/event", 1, false, []byte("marker 2"))
	if got := seen.until(t, "marker 2"); len(got) != len(want)+1 {
		t.Errorf("after the client-id spoof the operator received %q", got[len(want)+1:])
	}
	spoof.Disconnect(100)

	// Reading: pole-a subscribes widely; only its own, its groups' and
	// the live topics are delivered.
	heard := &inbox{}
	for _, filter := range []string{"loaxa/v1/dev/pole-a/cmd", "loaxa/v1/dev/+/cmd", "loaxa/v1/grp/+/cmd", "loaxa/v1/live/#", "loaxa/v1/#"} {
		// A refused filter is a SUBACK failure code, not a failed token:
		// what matters is what arrives.
		Wait(t, poleA.Subscribe(filter, 1, heard.handler), "pole-a subscribes to "+filter)
	}
	for _, topic := range []string{
		"loaxa/v1/dev/pole-b/cmd", "loaxa/v1/grp/hamlet-2/cmd", "loaxa/v1/dev/pole-b/state",
		"loaxa/v1/dev/pole-a/cmd", "loaxa/v1/grp/all/cmd", "loaxa/v1/grp/hamlet-1/cmd", "loaxa/v1/live/commune",
	} {
		Publish(t, operator, topic, 1, false, []byte("to "+topic))
	}
	Publish(t, operator, "loaxa/v1/dev/pole-a/cmd", 1, false, []byte("marker 3"))
	var topics []string
	for _, m := range heard.until(t, "marker 3") {
		topic, _, _ := strings.Cut(m, " ")
		if !slices.Contains(topics, topic) { // overlapping filters deliver twice
			topics = append(topics, topic)
		}
	}
	slices.Sort(topics)
	wantTopics := []string{"loaxa/v1/dev/pole-a/cmd", "loaxa/v1/grp/all/cmd", "loaxa/v1/grp/hamlet-1/cmd", "loaxa/v1/live/commune"}
	if !slices.Equal(topics, wantTopics) {
		t.Errorf("pole-a read %q\nwant only %q", topics, wantTopics)
	}

	// No password, or a wrong one: refused.
	for _, o := range []*mqtt.ClientOptions{ClientOptions(b, "anonymous"), ClientAs(b, "pole-a", "pole-a", "b-secret")} {
		c := mqtt.NewClient(o)
		tok := c.Connect()
		if !tok.WaitTimeout(WaitTimeout) {
			t.Fatal("connect did not finish")
		}
		if tok.Error() == nil {
			c.Disconnect(0)
			t.Errorf("client %q got in without the right password", o.ClientID)
		}
	}
}

// TestClientIDTakeover: with use_username_as_clientid on the poles'
// listener, pole-a connecting under pole-b's client id does not push pole-b
// off the broker (its session, queued commands and will stay its own).
func TestClientIDTakeover(t *testing.T) {
	b := aclBroker(t, "use_username_as_clientid true")
	lost := make(chan error, 1)
	opts := ClientAs(b, "pole-b", "pole-b", "b-secret").SetConnectionLostHandler(func(_ mqtt.Client, err error) {
		select {
		case lost <- err:
		default:
		}
	})
	poleB := Connect(t, opts)
	intruder := Connect(t, ClientAs(b, "pole-b", "pole-a", "a-secret"))
	Publish(t, intruder, "loaxa/v1/dev/pole-a/event", 1, false, []byte("hello")) // a round trip: it is in
	Publish(t, poleB, "loaxa/v1/dev/pole-b/event", 1, false, []byte("still here"))
	select {
	case err := <-lost:
		t.Fatalf("pole-b was disconnected by a client using its id: %v", err)
	default:
	}
}
