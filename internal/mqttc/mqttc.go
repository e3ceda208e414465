package mqttc

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/loaxa/loaxa/internal/redact"
)

// Schemes paho accepts for a broker, plain and TLS.
var (
	plainSchemes = []string{"tcp", "mqtt"}
	tlsSchemes   = []string{"tls", "ssl", "mqtts"}
)

// ParseBroker checks a broker URL as paho will use it, so a typo is refused
// when it is given instead of after a restart that leaves a pole unable to
// connect: a known scheme, a host name or IP address, a port in 1..65535,
// no path or query. Userinfo is allowed
// (paho takes the username and password from it).
func ParseBroker(s string) (*url.URL, error) {
	const want = "expected tcp://HOST:PORT or tls://HOST:PORT"
	if strings.ContainsAny(s, " \t\r\n") {
		return nil, fmt.Errorf("%q contains white space; %s", redact.URL(s), want)
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a URL; %s", redact.URL(s), want)
	}
	if !isOneOf(u.Scheme, plainSchemes) && !isOneOf(u.Scheme, tlsSchemes) {
		return nil, fmt.Errorf("%q: scheme %q is not tcp, mqtt, tls, ssl or mqtts; %s", redact.URL(s), u.Scheme, want)
	}
	if u.Opaque != "" || u.Host == "" {
		return nil, fmt.Errorf("%q has no host; %s", redact.URL(s), want)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%q has a path or query; a broker URL is scheme://HOST:PORT", redact.URL(s))
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return nil, fmt.Errorf("%q has no host; %s", redact.URL(s), want)
	}
	if net.ParseIP(host) == nil && !validHostname(host) {
		return nil, fmt.Errorf("%q: %q is not a host name or an IP address", redact.URL(s), host)
	}
	if port == "" {
		// paho dials HOST as given: without a port it never connects.
		return nil, fmt.Errorf("%q has no port; %s", redact.URL(s), want)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return nil, fmt.Errorf("%q: port %q must be 1..65535", redact.URL(s), port)
	}
	return u, nil
}

// validHostname accepts DNS names: labels of letters, digits and '-', not
// starting or ending with '-', up to 253 characters in all.
func validHostname(h string) bool {
	if len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// IsTLS reports whether a broker URL asks for TLS.
func IsTLS(broker string) bool {
	scheme, _, _ := strings.Cut(broker, "://")
	return isOneOf(scheme, tlsSchemes)
}

func isOneOf(s string, set []string) bool {
	for _, x := range set {
		if s == x {
			return true
		}
	}
	return false
}

// TLSFiles names the PEM files of a TLS client; each may be empty. Names
// says how the caller calls them in errors ("mqtt.ca_file", "--ca", …).
type TLSFiles struct {
	CA, Cert, Key             string
	CAName, CertName, KeyName string
}

// TLSConfig builds a client TLS configuration (TLS 1.2 or later): the CA
// file replaces the system roots when given, and a certificate with its
// key authenticates the client.
func TLSConfig(f TLSFiles) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.CA != "" {
		pem, err := os.ReadFile(f.CA)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.CAName, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s %s: no PEM certificate in it", f.CAName, f.CA)
		}
		tc.RootCAs = pool
	}
	if (f.Cert == "") != (f.Key == "") {
		return nil, fmt.Errorf("%s and %s go together: give both or neither", f.CertName, f.KeyName)
	}
	if f.Cert != "" {
		pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", f.CertName, f.KeyName, err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return tc, nil
}

// ErrTimeout is returned by Wait when its timeout fired first.
var ErrTimeout = errors.New("timed out")

// Wait waits for a paho token, ctx, a lost connection or a timeout (each
// channel may be nil). paho leaves QoS 1 tokens pending when the connection
// drops (it would resend them itself), hence lost.
func Wait(ctx context.Context, tok mqtt.Token, lost <-chan error, timeout <-chan time.Time) error {
	select {
	case <-tok.Done():
		return tok.Error()
	case err := <-lost:
		return fmt.Errorf("connection lost: %w", err)
	case <-ctx.Done():
		return ctx.Err()
	case <-timeout:
		return ErrTimeout
	}
}

// ErrRefused marks a subscription the broker refused (SUBACK 0x80),
// typically an ACL that does not let this user read those topics.
var ErrRefused = errors.New("the broker refused the subscription")

// Subscribed waits for a subscribe token as Wait does, then checks every
// SUBACK code: MQTT 3.1.1 reports a refused filter as a code, not as a
// failed token, and a refused subscription would look like a silent peer.
func Subscribed(ctx context.Context, tok mqtt.Token, lost <-chan error, timeout <-chan time.Time) error {
	if err := Wait(ctx, tok, lost, timeout); err != nil {
		return err
	}
	st, ok := tok.(*mqtt.SubscribeToken)
	if !ok {
		return nil
	}
	for filter, code := range st.Result() {
		if code == 0x80 {
			return fmt.Errorf("%w to %s", ErrRefused, filter)
		}
	}
	return nil
}
