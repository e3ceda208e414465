package mqtttest

import (
	"regexp"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// WaitTimeout bounds every wait of this package's helpers (connect, suback,
// puback, Next). It is a failure bound for a broken test, not a timing
// assertion: on loopback each of these takes milliseconds.
const WaitTimeout = 10 * time.Second

// Message is one message a Subscribe channel received.
type Message struct {
	Topic    string
	Payload  []byte
	Retained bool
	QoS      byte
}

// String shows the message in failure output.
func (m Message) String() string {
	r := ""
	if m.Retained {
		r = " (retained)"
	}
	return m.Topic + r + ": " + string(m.Payload)
}

// ClientOptions returns paho options for a client of b with this client id:
// clean session, no auto-reconnect, and short timeouts. Change them (e.g.
// SetCleanSession(false)) and pass them to Connect.
func ClientOptions(b *Broker, id string) *mqtt.ClientOptions {
	return mqtt.NewClientOptions().
		AddBroker(b.URL()).
		SetClientID(id).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(WaitTimeout).
		SetWriteTimeout(WaitTimeout).
		SetOrderMatters(false)
}

// Connect connects a client with opts, fails the test if it cannot, and
// disconnects it in t.Cleanup.
func Connect(t testing.TB, opts *mqtt.ClientOptions) mqtt.Client {
	t.Helper()
	c := mqtt.NewClient(opts)
	Wait(t, c.Connect(), "connect "+opts.ClientID)
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// Client connects a clean-session client of b with this client id; it is
// disconnected in t.Cleanup.
func Client(t testing.TB, b *Broker, id string) mqtt.Client {
	t.Helper()
	return Connect(t, ClientOptions(b, id))
}

// Wait waits for a paho token and fails the test if it errs or does not
// complete within WaitTimeout. what names the operation in the failure.
func Wait(t testing.TB, tok mqtt.Token, what string) {
	t.Helper()
	if !tok.WaitTimeout(WaitTimeout) {
		t.Fatalf("mqtttest: %s: no answer from the broker within %v", what, WaitTimeout)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("mqtttest: %s: %v", what, err)
	}
}

// Publish publishes through c and waits until the broker has it (PUBACK for
// QoS 1).
func Publish(t testing.TB, c mqtt.Client, topic string, qos byte, retained bool, payload []byte) {
	t.Helper()
	Wait(t, c.Publish(topic, qos, retained, payload), "publish to "+topic)
}

// Subscribe connects a new clean-session client, subscribes it to topic
// (wildcards allowed) at QoS 1, and returns a channel of what it receives.
// The subscription is active when Subscribe returns. The channel is
// buffered; a test that lets more than 1024 messages pile up fails rather
// than silently losing some.
func (b *Broker) Subscribe(t testing.TB, topic string) <-chan Message {
	t.Helper()
	ch := make(chan Message, 1024)
	var mu sync.Mutex // guards closed: no sends after Cleanup began
	closed := false
	c := Connect(t, ClientOptions(b, "mqtttest-sub-"+randomSuffix()))
	handler := func(_ mqtt.Client, m mqtt.Message) {
		msg := Message{Topic: m.Topic(), Payload: append([]byte(nil), m.Payload()...), Retained: m.Retained(), QoS: m.Qos()}
		mu.Lock()
		defer mu.Unlock()
		if closed {
			return
		}
		select {
		case ch <- msg:
		default:
			t.Errorf("mqtttest: subscription %q: more than %d unread messages; dropped %v", topic, cap(ch), msg)
		}
	}
	Wait(t, c.Subscribe(topic, 1, handler), "subscribe to "+topic)
	// Registered after Connect's cleanup, so it runs first: later messages
	// (e.g. a will published as the test's clients disconnect) are ignored
	// instead of being reported after the test ended.
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		closed = true
	})
	return ch
}

// Next returns the next message from ch, failing the test if none arrives
// within WaitTimeout.
func Next(t testing.TB, ch <-chan Message) Message {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(WaitTimeout):
		t.Fatalf("mqtttest: no message within %v", WaitTimeout)
		return Message{}
	}
}

// NextOn returns the next message on ch whose topic is topic, skipping
// others (e.g. retained documents a wildcard subscription also delivers).
func NextOn(t testing.TB, ch <-chan Message, topic string) Message {
	t.Helper()
	timeout := time.After(WaitTimeout)
	for {
		select {
		case m := <-ch:
			if m.Topic == topic {
				return m
			}
		case <-timeout:
			t.Fatalf("mqtttest: no message on %q within %v", topic, WaitTimeout)
			return Message{}
		}
	}
}

// WaitDisconnected waits until the broker has logged that a client whose
// id starts with idPrefix is gone (a DISCONNECT, a closed socket or a
// socket error), and fails the test after WaitTimeout. The broker handles
// a connection's packets in order, so by then it has routed everything
// that client published; a message published afterwards reaches any one
// subscriber after all of it. This turns "no more messages" into a
// condition: publish a marker and read up to it.
func (b *Broker) WaitDisconnected(t testing.TB, idPrefix string) {
	t.Helper()
	gone := regexp.MustCompile(`(?m)(Client ` + regexp.QuoteMeta(idPrefix) + `\S* (disconnected|closed its connection)|Socket error on client ` + regexp.QuoteMeta(idPrefix) + `\S*, disconnecting)`)
	deadline := time.Now().Add(WaitTimeout)
	for !gone.MatchString(b.Log()) {
		if time.Now().After(deadline) { // a failure bound, not a timing assertion
			t.Fatalf("mqtttest: the broker did not see client %s... disconnect within %v\n%s", idPrefix, WaitTimeout, b.Log())
		}
		time.Sleep(5 * time.Millisecond) // the log is written by mosquitto's own process: poll it
	}
}
