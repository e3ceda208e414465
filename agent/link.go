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

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/loaxa/loaxa/agent/config"
	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/internal/atomicfile"
	"github.com/loaxa/loaxa/internal/backoff"
	"github.com/loaxa/loaxa/internal/clock"
	"github.com/loaxa/loaxa/internal/mqttc"
	"github.com/loaxa/loaxa/internal/redact"
)

// Inbound is one message received on a subscribed topic.
type Inbound struct {
	Topic    string
	Payload  []byte
	Retained bool
	// Dup is the MQTT DUP flag: the broker is redelivering it.
	Dup bool
	// Shadowed marks a command the broker delivered from the session queue
	// that is also the retained message of its topic: published retained
	// while the pole was offline. It is never executed (issue 7, finding 3).
	Shadowed bool
	// Ack acknowledges the message to the broker (QoS 1 PUBACK); the agent
	// calls it once the message is handled and its effects are safe, so a
	// command that arrives as the agent stops is redelivered to the next
	// run instead of lost. Nil in tests that make Inbound values by hand.
	Ack func()
}

// LinkStats are the link counters reported in telemetry.
type LinkStats struct {
	Reconnects, RX, TX, Dropped uint64
	// InboundDropped counts commands that found the agent's inbound queue
	// full (a broker sending more than its in-flight window); QoS 1 ones
	// are redelivered by the broker at the next connection.
	InboundDropped uint64
	Pending        int
	Connected      bool
	Session        uint64
}

// Link owns the MQTT connection of one agent: it connects with a will,
// reconnects with full-jitter backoff, resubscribes, and delivers what the
// agent publishes (its outbox) once the broker is reachable, several QoS 1
// messages in flight at once. A new paho client is built for each
// connection so that each carries its own session number in its will
// (paho cannot change the will of a live client).
type Link struct {
	log     *slog.Logger
	clk     clock.Clock
	inbound chan Inbound
	events  chan LinkEvent
	out     *outbox

	rx, tx, reconnects, inDropped atomic.Uint64
	connected                     atomic.Bool
	session                       atomic.Uint64
	// owed is set when a command was dropped unacknowledged because the
	// inbound queue was full: once the agent has caught up, the link
	// reconnects so the broker delivers it again.
	owed atomic.Bool

	done <-chan struct{} // Run's context, set before any client exists

	mu     sync.Mutex // guards cfg, groups, live and hold
	cfg    LinkConfig
	groups []string
	live   []string // live-audio channels to subscribe to
	hold   *hold    // commands held while the subscription's retained messages arrive

	resubCh chan struct{}
	onLive  func(channel string, payload []byte, at time.Time)
	// retry cuts a backoff wait short: new settings deserve a try now.
	retry chan struct{}
	// lastErr is why the last connection ended or failed ("" before any),
	// for the console's banner and broker test.
	lastErr atomic.Pointer[string]
}

// LinkConfig is what a Link needs to know.
type LinkConfig struct {
	// Brokers are tried in turn (an MQTT cluster behind several addresses).
	Brokers   []string
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
	// audio does not queue behind commands; nil drops them. It must not
	// block.
	OnLive func(channel string, payload []byte, at time.Time)
}

// LinkEventKind tells a LinkEvent's kind.
type LinkEventKind int

// Link event kinds.
const (
	LinkUp LinkEventKind = iota + 1
	LinkDown
	// LinkFlapping: connections keep being lost right after they come up,
	// as when another client connects with the same id and the broker
	// drops the older one. Count says how many in a row.
	LinkFlapping
	// LinkStable: a connection outlived flapAfter again.
	LinkStable
)

// LinkEvent tells the agent that the connection came up or went down.
type LinkEvent struct {
	Kind    LinkEventKind
	Session uint64
	Count   int
	Err     error
}

const (
	// window is how many QoS 1 messages may wait for their PUBACK at once.
	window = 64
	// flapAfter: a connection lost sooner than this after it came up
	// counts as a flap, and the backoff is not reset by it, so two poles
	// with one id do not take each other over several times a second.
	flapAfter = 30 * time.Second
	// flapAlarm is how many flaps in a row raise the alarm.
	flapAlarm = 3
	// retainedGrace is how long after the SUBACK commands that came from
	// the session queue are held, for the retained messages the broker
	// sends after the SUBACK to arrive and be compared with them.
	retainedGrace = time.Second
	// maxHeld bounds the held commands.
	maxHeld = 1024
	// inboundCap bounds the commands received and not yet taken by the
	// agent. Beyond it a command is dropped unacknowledged and fetched
	// again by a reconnect once the agent has caught up: brokers do not
	// all bound the QoS 1 messages they send before PUBACKs come back.
	inboundCap = 1024
)

// errResync ends a session on purpose: commands were dropped and the
// agent has caught up, so reconnecting has the broker deliver them again.
var errResync = errors.New("reconnecting to have the commands dropped while the agent was busy delivered again")

// LinkConfigFrom builds a LinkConfig from the agent configuration.
func LinkConfigFrom(c *config.Config, version string) LinkConfig {
	var brokers []string
	for _, b := range c.MQTT.AllBrokers() {
		if b == "embedded" {
			b = "tcp://" + EmbeddedAddr
		}
		brokers = append(brokers, b)
	}
	return LinkConfig{
		Brokers:     brokers,
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

// EmbeddedAddr is where `--broker embedded` listens.
const EmbeddedAddr = "127.0.0.1:1883"

// NewLink prepares a link; Run connects it. durable backs the outbox's
// durable messages (nil: memory only).
func NewLink(cfg LinkConfig, clk clock.Clock, log *slog.Logger, durable Durable) *Link {
	l := &Link{
		cfg:     cfg,
		log:     log,
		clk:     clk,
		inbound: make(chan Inbound, inboundCap),
		events:  make(chan LinkEvent, 16),
		groups:  slices.Clone(cfg.Groups),
		out:     newOutbox(durable),
		resubCh: make(chan struct{}, 1),
		retry:   make(chan struct{}, 1),
		onLive:  cfg.OnLive,
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
	pending, dropped := l.out.stats()
	return LinkStats{
		Reconnects: l.reconnects.Load(), RX: l.rx.Load(), TX: l.tx.Load(), Dropped: dropped,
		InboundDropped: l.inDropped.Load(), Pending: pending,
		Connected: l.connected.Load(), Session: l.session.Load(),
	}
}

// Publish queues a volatile message for delivery; it never blocks. QoS 0
// messages are dropped while the broker is away (telemetry is periodic).
func (l *Link) Publish(m Message) {
	if m.QoS == 0 && !m.Retained && !l.connected.Load() {
		l.out.mu.Lock()
		l.out.dropped++
		l.out.mu.Unlock()
		return
	}
	l.out.Publish(m)
}

// PublishDurable stores and queues a QoS 1 message numbered by its seq in
// the durable queue; see outbox.PublishDurable.
func (l *Link) PublishDurable(topic string, build func(seq uint64) []byte) (uint64, error) {
	return l.out.PublishDurable(topic, build)
}

// Backlogged reports whether the agent should stop taking commands until
// Space is signalled.
func (l *Link) Backlogged() bool { return l.out.Backlogged() }

// Space is signalled when a backlog has drained.
func (l *Link) Space() <-chan struct{} { return l.out.Space() }

// SetConfig replaces the connection settings; the next connection uses
// them (the current one is not dropped).
func (l *Link) SetConfig(cfg LinkConfig) {
	l.mu.Lock()
	groups := l.cfg.Groups
	l.cfg = cfg
	l.cfg.Groups = groups
	l.mu.Unlock()
	select {
	case l.retry <- struct{}{}:
	default:
	}
}

// Retry cuts the backoff wait short: the next connection attempt starts
// now (a technician testing the broker should not wait a minute).
func (l *Link) Retry() {
	select {
	case l.retry <- struct{}{}:
	default:
	}
}

// LastError says why the last connection ended or could not be made; ""
// before the first failure. Safe from any goroutine.
func (l *Link) LastError() string {
	if p := l.lastErr.Load(); p != nil {
		return *p
	}
	return ""
}

func (l *Link) config() LinkConfig {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cfg
}

// SetGroups changes the group subscriptions ("all" is always kept).
func (l *Link) SetGroups(groups []string) {
	l.mu.Lock()
	l.groups = slices.Clone(groups)
	l.mu.Unlock()
	l.resubscribe()
}

// SetLive changes the live-audio channels subscribed to.
func (l *Link) SetLive(channels []string) {
	l.mu.Lock()
	same := slices.Equal(l.live, channels)
	l.live = slices.Clone(channels)
	l.mu.Unlock()
	if !same {
		l.resubscribe()
	}
}

func (l *Link) resubscribe() {
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
	flaps := 0
	for first := true; ; first = false {
		if !first {
			t := l.clk.NewTimer(bo.Next())
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-l.retry:
				bo.Reset()
			case <-t.C():
			}
			t.Stop()
		}
		up, lasted, err := l.session1(ctx)
		if ctx.Err() != nil {
			return nil
		}
		l.out.reset()
		if errors.Is(err, errResync) {
			l.reconnects.Add(1)
			l.log.Info("mqtt reconnecting", "why", err)
			first = true // no backoff: nothing failed
			continue
		}
		if up {
			l.reconnects.Add(1)
			if lasted >= flapAfter {
				bo.Reset()
				if flaps >= flapAlarm {
					l.emit(ctx, LinkEvent{Kind: LinkStable})
				}
				flaps = 0
			} else {
				// Lost right after it came up: keep backing off, and say so
				// when it keeps happening (another client with our id?).
				flaps++
				if flaps >= flapAlarm {
					l.emit(ctx, LinkEvent{Kind: LinkFlapping, Count: flaps, Err: err})
				}
			}
		}
		l.out.dropQoS0()
		if err != nil {
			msg := err.Error()
			l.lastErr.Store(&msg)
		}
		l.log.Warn("mqtt link down", "brokers", redactAll(l.config().Brokers), "err", err, "retry_ceiling", bo.Ceiling())
	}
}

// session1 runs one connection: connect, subscribe, announce, deliver. It
// returns when the connection is lost or ctx ends; up tells whether it had
// connected at all, lasted for how long.
func (l *Link) session1(ctx context.Context) (up bool, lasted time.Duration, err error) {
	cfg := l.config()
	session := l.session.Load() + 1
	lost := make(chan error, 1)
	opts, err := l.options(cfg, session, lost)
	if err != nil {
		return false, 0, err
	}
	h := &hold{open: true}
	l.mu.Lock()
	l.hold = h // commands from the session queue wait for the retained ones
	l.mu.Unlock()
	defer l.release(nil)
	c := mqtt.NewClient(opts)
	if err := mqttc.Wait(ctx, c.Connect(), nil, nil); err != nil {
		c.Disconnect(0)
		return false, 0, fmt.Errorf("connect %s: %w", redactAll(cfg.Brokers), err)
	}
	defer c.Disconnect(250)
	start := l.clk.Now()
	if err := writeSession(cfg.SessionFile, session); err != nil {
		l.log.Error("cannot persist the session counter", "err", err)
	}
	l.session.Store(session)
	subscribed, err := l.subscribe(ctx, c, nil, lost)
	if err != nil {
		return true, l.clk.Now().Sub(start), err
	}
	graceT := l.clk.NewTimer(retainedGrace)
	defer graceT.Stop()
	grace := graceT.C()
	status := func(online bool) []byte {
		b, _ := json.Marshal(wire.Status{Online: online, Session: session, Version: cfg.Version, Since: start.UnixMilli(), TS: l.clk.Now().UnixMilli()})
		return b
	}
	// An agent stopped while this waits still goes on to say goodbye
	// below: the broker may hold "online" already.
	if err := mqttc.Wait(ctx, c.Publish(cfg.Topics.Status(), 1, true, status(true)), lost, nil); err != nil && ctx.Err() == nil {
		return true, l.clk.Now().Sub(start), fmt.Errorf("publish status: %w", err)
	}
	l.tx.Add(1)
	l.connected.Store(true)
	l.log.Info("mqtt link up", "brokers", redactAll(cfg.Brokers), "session", session)
	l.emit(ctx, LinkEvent{Kind: LinkUp, Session: session})
	defer func() {
		l.connected.Store(false)
		l.emit(context.WithoutCancel(ctx), LinkEvent{Kind: LinkDown, Session: session, Err: err})
	}()
	s := &sender{l: l, c: c, lost: lost}
	resync := l.clk.NewTicker(time.Second)
	defer resync.Stop()
	for {
		select {
		case <-l.resubCh:
			// Subscriptions first: a play's ack must not reach the operator
			// before the pole listens on its live channel, or the first
			// words said after the ack are lost at the broker.
			if subscribed, err = l.subscribe(ctx, c, subscribed, lost); err != nil && ctx.Err() == nil {
				return true, l.clk.Now().Sub(start), err
			}
		default:
		}
		err := s.flush(ctx)
		if ctx.Err() != nil {
			// Deliver the last acks (a "restart" ack, say) and say goodbye:
			// the will fires only on an unclean end.
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			s.drain(fctx)
			mqttc.Wait(fctx, c.Publish(cfg.Topics.Status(), 1, true, status(false)), lost, nil)
			cancel()
			return true, l.clk.Now().Sub(start), ctx.Err()
		}
		if err != nil {
			return true, l.clk.Now().Sub(start), err
		}
		select {
		case <-ctx.Done():
		case err := <-lost:
			return true, l.clk.Now().Sub(start), fmt.Errorf("connection lost: %w", err)
		case <-l.out.wake:
		case <-s.oldest():
		case <-grace:
			grace = nil
			l.release(h)
		case <-resync.C():
			if l.owed.Load() && len(l.inbound) == 0 && grace == nil {
				l.owed.Store(false)
				return true, l.clk.Now().Sub(start), errResync
			}
		case <-l.resubCh:
			if subscribed, err = l.subscribe(ctx, c, subscribed, lost); err != nil && ctx.Err() == nil {
				return true, l.clk.Now().Sub(start), err
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

// subscribe makes the subscriptions match the device topic plus its groups;
// prev is what is subscribed now.
func (l *Link) subscribe(ctx context.Context, c mqtt.Client, prev []string, lost <-chan error) ([]string, error) {
	l.mu.Lock()
	topics := l.cfg.Topics
	want := []string{topics.Cmd()}
	for _, g := range l.groups {
		want = append(want, topics.GroupCmd(g))
	}
	for _, ch := range l.live {
		want = append(want, topics.Live(ch))
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
			if strings.HasPrefix(t, topics.Root+"/live/") {
				filters[t] = 0 // live audio: late is as bad as lost
			}
		}
		if err := mqttc.Subscribed(ctx, c.SubscribeMultiple(filters, nil), lost, nil); err != nil {
			return prev, fmt.Errorf("subscribe %s: %w", strings.Join(add, ", "), err)
		}
	}
	if len(drop) > 0 {
		if err := mqttc.Wait(ctx, c.Unsubscribe(drop...), lost, nil); err != nil {
			return prev, fmt.Errorf("unsubscribe %s: %w", strings.Join(drop, ", "), err)
		}
	}
	return want, nil
}

func (l *Link) options(cfg LinkConfig, session uint64, lost chan<- error) (*mqtt.ClientOptions, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("no broker configured (mqtt.broker)")
	}
	// The will names the session it ends and when that session began
	// (about now: it is built just before connecting); the broker sends it
	// at a time we cannot know, so it carries no ts.
	will, _ := json.Marshal(wire.Status{Online: false, Session: session, Version: cfg.Version, Since: l.clk.Now().UnixMilli()})
	o := mqtt.NewClientOptions().
		SetClientID(cfg.ClientID).
		SetCleanSession(false).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetResumeSubs(false).
		SetKeepAlive(cfg.Keepalive).
		SetPingTimeout(10*time.Second).
		SetConnectTimeout(15*time.Second).
		SetWriteTimeout(15*time.Second).
		SetOrderMatters(true).
		// Commands are acknowledged once handled, not on receipt.
		SetAutoAckDisabled(true).
		SetBinaryWill(cfg.Topics.Status(), will, 1, true).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			select {
			case lost <- err:
			default:
			}
		}).
		// Clean session off: the broker delivers queued commands right after
		// CONNACK, before our SUBSCRIBE; the default handler takes those.
		SetDefaultPublishHandler(l.receive)
	tlsCount := 0
	for _, b := range cfg.Brokers {
		o.AddBroker(b)
		if mqttc.IsTLS(b) {
			tlsCount++
		}
	}
	if cfg.Username != "" {
		o.SetUsername(cfg.Username)
		o.SetPassword(cfg.Password)
	}
	if tlsCount > 0 {
		tc, err := mqttc.TLSConfig(mqttc.TLSFiles{
			CA: cfg.CAFile, Cert: cfg.CertFile, Key: cfg.KeyFile,
			CAName: "mqtt.ca_file", CertName: "mqtt.cert_file", KeyName: "mqtt.key_file",
		})
		if err != nil {
			return nil, err
		}
		o.SetTLSConfig(tc)
	}
	return o, nil
}

func redactAll(urls []string) string {
	out := make([]string, len(urls))
	for i, u := range urls {
		out[i] = redact.URL(u)
	}
	return strings.Join(out, ",")
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
