package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/internal/atomicfile"
	"github.com/loaxa/loaxa/internal/clock"
	"github.com/loaxa/loaxa/internal/mqttc"
	"github.com/loaxa/loaxa/internal/redact"
)

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
	select {
	case <-l.redial: // asked for before this connection existed
	default:
	}
	l.connected.Store(true)
	l.log.Info("mqtt link up", "brokers", redactAll(cfg.Brokers), "session", session)
	l.emit(ctx, LinkEvent{Kind: LinkUp, Session: session})
	defer func() {
		l.connected.Store(false)
		l.emit(context.WithoutCancel(ctx), LinkEvent{Kind: LinkDown, Session: session, Err: err})
	}()
	s := &sender{l: l, c: c, lost: lost}
	// While a dropped command is owed, look every second whether the
	// agent has caught up.
	var resync clock.Ticker
	var resyncC <-chan time.Time
	defer func() {
		if resync != nil {
			resync.Stop()
		}
	}()
	watchOwed := func() {
		if resync == nil && l.owed.Load() {
			resync = l.clk.NewTicker(time.Second)
			resyncC = resync.C()
		}
	}
	watchOwed() // owed during an earlier session
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
		case <-l.owedC:
			watchOwed()
		case <-resyncC:
			if l.owed.Load() && len(l.inbound) == 0 && grace == nil {
				l.owed.Store(false)
				return true, l.clk.Now().Sub(start), errResync
			}
		case <-l.redial:
			return true, l.clk.Now().Sub(start), errRedial
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
