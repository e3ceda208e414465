package agent

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loaxa/loaxa/agent/config"
	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/internal/backoff"
	"github.com/loaxa/loaxa/internal/clock"
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
	// owedC says owed was set: the session then looks every second
	// whether the agent has caught up (a ticker only while it is owed,
	// not a wake-up every second for the life of the pole).
	owedC chan struct{}

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
	// redial is Redial's request: drop the connection and dial now.
	redial chan struct{}
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
		redial:  make(chan struct{}, 1),
		owedC:   make(chan struct{}, 1),
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

// Redial drops the connection and dials again at once, without waiting
// out the backoff (which starts again from its first step): the
// connectivity watchdog's first step. A request made while a connection
// is being set up is dropped when it comes up, so it never ends a
// connection that started after it. It never blocks.
func (l *Link) Redial() {
	select {
	case l.redial <- struct{}{}:
	default:
	}
}

// errRedial ends a session on the watchdog's request.
var errRedial = errors.New("reconnecting on the watchdog's request")

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
			case <-l.redial:
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
		if errors.Is(err, errResync) || errors.Is(err, errRedial) {
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
