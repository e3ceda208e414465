package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/loaxa/loaxa/internal/mqttc"
	"github.com/loaxa/loaxa/internal/redact"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// connectTimeout bounds the MQTT connect when --timeout is not set.
const connectTimeout = 10 * time.Second

// checkBroker validates the broker URL and the TLS flags that go with it.
func checkBroker(o *options) error {
	if _, err := mqttc.ParseBroker(o.broker); err != nil {
		return fmt.Errorf("--broker: %w (e.g. %s)", err, DefaultBroker)
	}
	if !mqttc.IsTLS(o.broker) && (o.ca != "" || o.cert != "" || o.certKey != "") {
		return fmt.Errorf("--ca, --cert and --cert-key need a tls:// or ssl:// broker, got %q", redact.URL(o.broker))
	}
	if (o.cert == "") != (o.certKey == "") {
		return errors.New("--cert and --cert-key go together: give both or neither")
	}
	return nil
}

// clientOptions are the paho options every loaxactl connection shares: a
// random client id (two operators must not kick each other off) and a clean
// session (loaxactl wants no queued messages from a previous run).
func clientOptions(o *options) (*mqtt.ClientOptions, error) {
	ct := connectTimeout
	if o.timeout > 0 {
		ct = o.timeout
	}
	opts := mqtt.NewClientOptions().
		AddBroker(o.broker).
		SetClientID("loaxactl-" + randomHex(6)).
		SetCleanSession(true).
		SetUsername(o.user).
		SetPassword(o.password).
		SetConnectTimeout(ct).
		SetWriteTimeout(ct).
		SetConnectRetry(false).
		SetAutoReconnect(false)
	if o.ca != "" || o.cert != "" {
		cfg, err := mqttc.TLSConfig(mqttc.TLSFiles{
			CA: o.ca, Cert: o.cert, Key: o.certKey,
			CAName: "--ca", CertName: "--cert", KeyName: "--cert-key",
		})
		if err != nil {
			return nil, err
		}
		opts.SetTLSConfig(cfg)
	}
	return opts, nil
}

// connect connects, giving up when ctx ends.
func connect(ctx context.Context, opts *mqtt.ClientOptions) (mqtt.Client, error) {
	cl := mqtt.NewClient(opts)
	if err := await(ctx, cl.Connect(), nil); err != nil {
		if isCtx(err) {
			// The attempt goes on in paho; this makes it close the
			// connection if it succeeds, instead of holding it open.
			cl.Disconnect(0)
		}
		var b string
		if len(opts.Servers) > 0 {
			b = redact.Parsed(opts.Servers[0]) // a password in the URL stays secret
		}
		return nil, fmt.Errorf("connect to %s: %w", b, err)
	}
	return cl, nil
}

// errDeadline is returned by await when the timeout channel fired first.
var errDeadline = mqttc.ErrTimeout

// await waits for a paho token, ctx, or timeout (nil: none).
func await(ctx context.Context, tok mqtt.Token, timeout <-chan time.Time) error {
	return mqttc.Wait(ctx, tok, nil, timeout)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}

// isCtx reports whether err means the caller's context ended (Ctrl-C).
func isCtx(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// errRefused marks a subscription the broker refused (SUBACK 0x80).
var errRefused = mqttc.ErrRefused

// subscribed waits for a subscribe token and checks every SUBACK code: a
// refused ack subscription would look like a silent pole.
func subscribed(ctx context.Context, tok mqtt.Token, timeout <-chan time.Time) error {
	err := mqttc.Subscribed(ctx, tok, nil, timeout)
	if errors.Is(err, mqttc.ErrRefused) {
		return fmt.Errorf("%w: does this user have read access?", err)
	}
	return err
}
