package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loaxa/loaxa/internal/mqttc"

	"github.com/loaxa/loaxa/internal/redact"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/loaxa/loaxa/agent/config"
	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/internal/atomicfile"
	"github.com/loaxa/loaxa/internal/backoff"
	"github.com/loaxa/loaxa/internal/clock"
)

// Message is one outgoing MQTT message.
type Message struct {
	Topic    string
	QoS      byte
	Retained bool
	Payload  []byte
}

// Inbound is one message received on a subscribed topic.
type Inbound struct {
	Topic    string
	Payload  []byte
	Retained bool
	// Dup is the MQTT DUP flag: the broker is redelivering it.
	Dup bool
	// Ack acknowledges the message to the broker (QoS 1 PUBACK); the agent
	// calls it once the message is handled, so a command that arrives as
	// the agent stops is redelivered to the next run instead of lost. Nil
	// in tests that make Inbound values by hand.
	Ack func()
}

// LinkStats are the link counters reported in telemetry.
type LinkStats struct {
	Reconnects, RX, TX, Dropped uint64
	Connected                   bool
	Session                     uint64
}

// outboxLimit bounds the acks and events kept while the broker is away;
// the oldest are dropped (and counted) beyond it. Retained documents are
// coalesced per topic and never count against it.
const outboxLimit = 1000

// Link owns the MQTT connection of one agent: it connects with a will,
// reconnects with full-jitter backoff, resubscribes, and delivers what the
// agent publishes once the broker is reachable. A new paho client is built
// for each connection so that each carries its own session number in its
// will (paho cannot change the will of a live client).
type Link struct {
	cfg     LinkConfig
	log     *slog.Logger
	clk     clock.Clock
	inbound chan Inbound
	events  chan LinkEvent

	rx, tx, reconnects, dropped atomic.Uint64
	connected                   atomic.Bool
	session                     atomic.Uint64

	done <-chan struct{} // Run's context, set before any client exists

	mu     sync.Mutex // guards outbox, seq, groups and live
	outbox []queued
	seq    uint64
	groups []string
	live   []string // live-audio channels to subscribe to

	inflight *inflight     // the message flush waits for; owned by the Run goroutine
	wake     chan struct{} // signalled when outbox or groups change
	resubCh  chan struct{}
}

// LinkConfig is what a Link needs to know.
type LinkConfig struct {
	Broker    string
	ClientID  string
	Username  string
	Password  string
	CAFile    string
	CertFile  string
	KeyFile   string
	Keepalive time.Duration
	Topics    wire.Topics
	Groups    []string
	Version   string
	// SessionFile persists the session counter of the will/status pair.
	SessionFile string
	// OnLive takes live-audio frames straight from the MQTT client, so the
	// audio does not queue behind commands; nil drops them.
	OnLive func(channel string, payload []byte, at time.Time)
}

// LinkEventKind tells a LinkEvent's kind.
type LinkEventKind int

// Link event kinds.
const (
	LinkUp LinkEventKind = iota + 1
	LinkDown
)

// LinkEvent tells the agent that the connection came up or went down.
type LinkEvent struct {
	Kind    LinkEventKind
	Session uint64
	Err     error
}

// LinkConfigFrom builds a LinkConfig from the agent configuration.
func LinkConfigFrom(c *config.Config, version string) LinkConfig {
	broker := c.MQTT.Broker
	if broker == "embedded" {
		broker = "tcp://" + EmbeddedAddr
	}
	return LinkConfig{
		Broker:      broker,
		ClientID:    c.ID,
		Username:    c.MQTT.Username,
		Password:    c.MQTT.Password,
		CAFile:      c.MQTT.CAFile,
		CertFile:    c.MQTT.CertFile,
		KeyFile:     c.MQTT.KeyFile,
		Keepalive:   time.Duration(c.MQTT.Keepalive) * time.Second,
		Topics:      wire.Topics{Root: c.TopicRoot, ID: c.ID},
		Groups:      c.AllGroups(),
		Version:     version,
		SessionFile: filepath.Join(c.DataDir, "session"),
	}
}

// inflight is the message flush published last and is waiting for.
type inflight struct {
	seq    uint64
	tok    mqtt.Token
	client mqtt.Client
}

type queued struct {
	seq uint64
	Message
}

// EmbeddedAddr is where `--broker embedded` listens.
const EmbeddedAddr = "127.0.0.1:1883"

// NewLink prepares a link; Run connects it.
func NewLink(cfg LinkConfig, clk clock.Clock, log *slog.Logger) *Link {
	l := &Link{
		cfg:     cfg,
		log:     log,
		clk:     clk,
		inbound: make(chan Inbound, 256),
		events:  make(chan LinkEvent, 16),
		groups:  slices.Clone(cfg.Groups),
		wake:    make(chan struct{}, 1),
		resubCh: make(chan struct{}, 1),
	}
	l.session.Store(readSession(cfg.SessionFile))
	return l
}

// Inbound delivers received messages to the agent.
func (l *Link) Inbound() <-chan Inbound { return l.inbound }

// Events delivers connection changes to the agent.
func (l *Link) Events() <-chan LinkEvent { return l.events }

// Stats returns the counters.
func (l *Link) Stats() LinkStats {
	return LinkStats{
		Reconnects: l.reconnects.Load(), RX: l.rx.Load(), TX: l.tx.Load(), Dropped: l.dropped.Load(),
		Connected: l.connected.Load(), Session: l.session.Load(),
	}
}

// Publish queues m for delivery; it never blocks. QoS 0 messages are
// dropped while the broker is away (telemetry is periodic anyway). A retained
// message replaces a queued one on the same topic: only the latest state
// matters. Acks and events are kept, up to outboxLimit.
func (l *Link) Publish(m Message) {
	if m.QoS == 0 && !m.Retained && !l.connected.Load() {
		l.dropped.Add(1)
		return
	}
	l.mu.Lock()
	if m.Retained {
		l.outbox = slices.DeleteFunc(l.outbox, func(o queued) bool { return o.Retained && o.Topic == m.Topic })
	}
	l.seq++
	l.outbox = append(l.outbox, queued{l.seq, m})
	// Beyond the limit the oldest acks and events go; retained documents
	// (one per topic already) are kept: they are what the operator sees.
	for excess := len(l.outbox) - outboxLimit; excess > 0; excess-- {
		i := slices.IndexFunc(l.outbox, func(o queued) bool { return !o.Retained })
		if i < 0 {
			break
		}
		l.outbox = slices.Delete(l.outbox, i, i+1)
		l.dropped.Add(1)
	}
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// SetGroups changes the group subscriptions ("all" is always kept).
func (l *Link) SetGroups(groups []string) {
	l.mu.Lock()
	l.groups = slices.Clone(groups)
	l.mu.Unlock()
	select {
	case l.resubCh <- struct{}{}:
	default:
	}
}

// SetLive changes the live-audio channels subscribed to.
func (l *Link) SetLive(channels []string) {
	l.mu.Lock()
	same := slices.Equal(l.live, channels)
	l.live = slices.Clone(channels)
	l.mu.Unlock()
	if same {
		return
	}
	select {
	case l.resubCh <- struct{}{}:
	default:
	}
}

// Run connects and keeps the link up until ctx ends. On the way out it
// delivers what is queued (bounded), publishes an "offline" status (the will
// only fires on an unclean end) and disconnects.
func (l *Link) Run(ctx context.Context) error {
	l.done = ctx.Done()
	bo := backoff.New(time.Second, 60*time.Second, l.clk, nil)
	first := true
	for {
		if !first {
			if err := bo.Wait(ctx); err != nil {
				return nil
			}
		}
		first = false
		up, err := l.session1(ctx, bo)
		if ctx.Err() != nil {
			return nil
		}
		if up {
			l.reconnects.Add(1)
		}
		l.log.Warn("mqtt link down", "broker", redact.URL(l.cfg.Broker), "err", err, "retry_ceiling", bo.Ceiling())
	}
}

// session1 runs one connection: connect, subscribe, announce, deliver. It
// returns when the connection is lost or ctx ends; up tells whether it had
// connected at all.
func (l *Link) session1(ctx context.Context, bo *backoff.Backoff) (up bool, err error) {
	session := l.session.Load() + 1
	lost := make(chan error, 1)
	opts, err := l.options(session, lost)
	if err != nil {
		return false, err
	}
	c := mqtt.NewClient(opts)
	tok := c.Connect()
	if err := waitToken(ctx, tok, nil); err != nil {
		c.Disconnect(0)
		return false, fmt.Errorf("connect %s: %w", redact.URL(l.cfg.Broker), err)
	}
	defer c.Disconnect(250)
	if err := writeSession(l.cfg.SessionFile, session); err != nil {
		l.log.Error("cannot persist the session counter", "err", err)
	}
	l.session.Store(session)
	since := l.clk.Now().UnixMilli()
	subscribed, err := l.subscribe(ctx, c, nil, lost)
	if err != nil {
		return false, err
	}
	status := func(online bool) []byte {
		b, _ := json.Marshal(wire.Status{Online: online, Session: session, Version: l.cfg.Version, Since: since, TS: l.clk.Now().UnixMilli()})
		return b
	}
	if err := waitToken(ctx, c.Publish(l.cfg.Topics.Status(), 1, true, status(true)), lost); err != nil {
		return false, fmt.Errorf("publish status: %w", err)
	}
	l.tx.Add(1)
	bo.Reset()
	l.connected.Store(true)
	l.log.Info("mqtt link up", "broker", redact.URL(l.cfg.Broker), "session", session)
	l.emit(ctx, LinkEvent{Kind: LinkUp, Session: session})
	defer func() {
		l.connected.Store(false)
		l.emit(context.WithoutCancel(ctx), LinkEvent{Kind: LinkDown, Session: session, Err: err})
	}()
	for {
		err := l.flush(ctx, c, lost)
		if ctx.Err() != nil {
			// Deliver the last acks (a "restart" ack, say) and say goodbye:
			// the will fires only on an unclean end.
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			l.flush(fctx, c, lost)
			waitToken(fctx, c.Publish(l.cfg.Topics.Status(), 1, true, status(false)), lost)
			cancel()
			return true, ctx.Err()
		}
		if err != nil {
			return true, err
		}
		select {
		case <-ctx.Done():
		case err := <-lost:
			return true, err
		case <-l.wake:
		case <-l.resubCh:
			if subscribed, err = l.subscribe(ctx, c, subscribed, lost); err != nil && ctx.Err() == nil {
				return true, err
			}
		}
	}
}

func (l *Link) emit(ctx context.Context, ev LinkEvent) {
	select {
	case l.events <- ev:
	case <-ctx.Done():
	}
}

// flush publishes the outbox in order, keeping each message until the
// broker has acknowledged it.
func (l *Link) flush(ctx context.Context, c mqtt.Client, lost <-chan error) error {
	for {
		l.mu.Lock()
		if len(l.outbox) == 0 {
			l.mu.Unlock()
			return nil
		}
		m := l.outbox[0]
		l.mu.Unlock()
		var tok mqtt.Token
		if l.inflight != nil && l.inflight.seq == m.seq && l.inflight.client == c {
			// Published already on this connection, its wait interrupted
			// (shutdown): wait for that PUBACK instead of sending it twice.
			tok = l.inflight.tok
		} else {
			tok = c.Publish(m.Topic, m.QoS, m.Retained, m.Payload)
			l.inflight = &inflight{seq: m.seq, tok: tok, client: c}
		}
		if m.QoS > 0 {
			// Unacknowledged messages stay in the outbox and are sent
			// again on the next connection.
			if err := waitToken(ctx, tok, lost); err != nil {
				return fmt.Errorf("publish %s: %w", m.Topic, err)
			}
		}
		l.inflight = nil
		l.tx.Add(1)
		l.mu.Lock()
		// The head may have been replaced by a newer retained document or
		// dropped by the limit meanwhile; remove exactly what was sent.
		if i := slices.IndexFunc(l.outbox, func(o queued) bool { return o.seq == m.seq }); i >= 0 {
			l.outbox = slices.Delete(l.outbox, i, i+1)
		}
		l.mu.Unlock()
	}
}

// subscribe makes the subscriptions match the device topic plus its groups;
// prev is what is subscribed now.
func (l *Link) subscribe(ctx context.Context, c mqtt.Client, prev []string, lost <-chan error) ([]string, error) {
	l.mu.Lock()
	want := []string{l.cfg.Topics.Cmd()}
	for _, g := range l.groups {
		want = append(want, l.cfg.Topics.GroupCmd(g))
	}
	for _, ch := range l.live {
		want = append(want, l.cfg.Topics.Live(ch))
	}
	l.mu.Unlock()
	var add, drop []string
	for _, t := range want {
		if !slices.Contains(prev, t) {
			add = append(add, t)
		}
	}
	for _, t := range prev {
		if !slices.Contains(want, t) {
			drop = append(drop, t)
		}
	}
	if len(add) > 0 {
		filters := map[string]byte{}
		for _, t := range add {
			filters[t] = 1
			if strings.HasPrefix(t, l.cfg.Topics.Root+"/live/") {
				filters[t] = 0 // live audio: late is as bad as lost
			}
		}
		if err := mqttc.Subscribed(ctx, c.SubscribeMultiple(filters, nil), lost, nil); err != nil {
			return prev, fmt.Errorf("subscribe %s: %w", strings.Join(add, ", "), err)
		}
	}
	if len(drop) > 0 {
		if err := waitToken(ctx, c.Unsubscribe(drop...), lost); err != nil {
			return prev, fmt.Errorf("unsubscribe %s: %w", strings.Join(drop, ", "), err)
		}
	}
	return want, nil
}

func (l *Link) options(session uint64, lost chan<- error) (*mqtt.ClientOptions, error) {
	// The will names the session it ends and when that session began
	// (about now: it is built just before connecting); the broker sends it
	// at a time we cannot know, so it carries no ts.
	will, _ := json.Marshal(wire.Status{Online: false, Session: session, Version: l.cfg.Version, Since: l.clk.Now().UnixMilli()})
	o := mqtt.NewClientOptions().
		AddBroker(l.cfg.Broker).
		SetClientID(l.cfg.ClientID).
		SetCleanSession(false).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetResumeSubs(false).
		SetKeepAlive(l.cfg.Keepalive).
		SetPingTimeout(10*time.Second).
		SetConnectTimeout(15*time.Second).
		SetWriteTimeout(15*time.Second).
		SetOrderMatters(true).
		// Commands are acknowledged once handled, not on receipt.
		SetAutoAckDisabled(true).
		SetBinaryWill(l.cfg.Topics.Status(), will, 1, true).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			select {
			case lost <- err:
			default:
			}
		}).
		// Clean session off: the broker delivers queued commands right after
		// CONNACK, before our SUBSCRIBE; the default handler takes those.
		SetDefaultPublishHandler(l.receive)
	if l.cfg.Username != "" {
		o.SetUsername(l.cfg.Username)
		o.SetPassword(l.cfg.Password)
	}
	if mqttc.IsTLS(l.cfg.Broker) {
		tc, err := mqttc.TLSConfig(mqttc.TLSFiles{
			CA: l.cfg.CAFile, Cert: l.cfg.CertFile, Key: l.cfg.KeyFile,
			CAName: "mqtt.ca_file", CertName: "mqtt.cert_file", KeyName: "mqtt.key_file",
		})
		if err != nil {
			return nil, err
		}
		o.SetTLSConfig(tc)
	}
	return o, nil
}

// receive is paho's message callback. It copies the message and hands it to
// the agent; blocking here holds paho's router, which is what we want when
// the agent is busy (back-pressure rather than loss).
func (l *Link) receive(_ mqtt.Client, m mqtt.Message) {
	l.rx.Add(1)
	if ch, ok := strings.CutPrefix(m.Topic(), l.cfg.Topics.Root+"/live/"); ok {
		m.Ack()
		if l.cfg.OnLive != nil && !m.Retained() {
			l.cfg.OnLive(ch, m.Payload(), l.clk.Now())
		}
		return
	}
	in := Inbound{Topic: m.Topic(), Payload: slices.Clone(m.Payload()), Retained: m.Retained(), Dup: m.Duplicate(), Ack: m.Ack}
	select {
	case l.inbound <- in:
	case <-l.done:
	}
}

// waitToken waits for a paho token, ctx or a lost connection.
func waitToken(ctx context.Context, t mqtt.Token, lost <-chan error) error {
	return mqttc.Wait(ctx, t, lost, nil)
}

func readSession(path string) uint64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0
	}
	return n
}

func writeSession(path string, n uint64) error {
	_, err := atomicfile.WriteFile(path, []byte(strconv.FormatUint(n, 10)+"\n"), 0o644)
	return err
}

var errRestart = errors.New("restart requested")
