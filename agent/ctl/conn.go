package ctl

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// connectTimeout bounds the MQTT connect when --timeout is not set.
const connectTimeout = 10 * time.Second

// checkBroker validates the broker URL and the TLS flags that go with it.
func checkBroker(o *options) error {
	u, err := url.Parse(o.broker)
	if err != nil {
		return fmt.Errorf("--broker %q: %w", o.broker, err)
	}
	if u.Host == "" {
		return fmt.Errorf("--broker %q: expected scheme://host:port, e.g. %s", o.broker, DefaultBroker)
	}
	tlsFlags := o.ca != "" || o.cert != "" || o.certKey != ""
	switch u.Scheme {
	case "tcp", "mqtt":
		if tlsFlags {
			return fmt.Errorf("--ca, --cert and --cert-key need a tls:// or ssl:// broker, got %q", o.broker)
		}
	case "tls", "ssl", "mqtts":
	default:
		return fmt.Errorf("--broker %q: scheme must be tcp, tls or ssl", o.broker)
	}
	if (o.cert == "") != (o.certKey == "") {
		return errors.New("--cert and --cert-key go together: give both or neither")
	}
	return nil
}

// tlsConfig builds the client TLS configuration from the --ca, --cert and
// --cert-key files.
func tlsConfig(o *options) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.ca != "" {
		pem, err := os.ReadFile(o.ca)
		if err != nil {
			return nil, fmt.Errorf("--ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca %s: no PEM certificate in it", o.ca)
		}
		cfg.RootCAs = pool
	}
	if o.cert != "" {
		pair, err := tls.LoadX509KeyPair(o.cert, o.certKey)
		if err != nil {
			return nil, fmt.Errorf("--cert/--cert-key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
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
		cfg, err := tlsConfig(o)
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
			b = opts.Servers[0].Redacted() // a password in the URL stays secret
		}
		return nil, fmt.Errorf("connect to %s: %w", b, err)
	}
	return cl, nil
}

// errDeadline is returned by await when the timeout channel fired first.
var errDeadline = errors.New("timed out")

// await waits for a paho token, ctx, or timeout (nil: none).
func await(ctx context.Context, tok mqtt.Token, timeout <-chan time.Time) error {
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	case <-timeout:
		return errDeadline
	}
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

// errRefused marks a subscription the broker refused (SUBACK 0x80),
// typically an ACL that does not let this user read those topics.
var errRefused = errors.New("the broker refused the subscription")

// subscribed waits for a subscribe token and checks every SUBACK code:
// MQTT 3.1.1 reports a refused filter as a code, not as a failed token, and
// a refused ack subscription would look like a silent pole.
func subscribed(ctx context.Context, tok mqtt.Token, timeout <-chan time.Time) error {
	if err := await(ctx, tok, timeout); err != nil {
		return err
	}
	st, ok := tok.(*mqtt.SubscribeToken)
	if !ok {
		return nil
	}
	for filter, code := range st.Result() {
		if code == 0x80 {
			return fmt.Errorf("%w to %s: does this user have read access?", errRefused, filter)
		}
	}
	return nil
}
