package stream

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/loaxa/loaxa/internal/redact"
)

// NewClient returns the HTTP client Open uses when Options.Client is nil:
// proxies from the environment, no HTTP/2 (a stream is one long response),
// no keep-alive (a stream's connection is never reused), no overall timeout
// (a stream lasts hours; Open applies its own connect and stall timeouts),
// and Shoutcast's "ICY 200 OK" status line rewritten to "HTTP/1.0 200 OK" so
// that net/http accepts old Shoutcast servers. tlsConfig may be nil, or set
// the roots that https stream servers are checked against.
func NewClient(tlsConfig *tls.Config) *http.Client {
	d := &icyDialer{dialer: &net.Dialer{KeepAlive: 30 * time.Second}, tls: tlsConfig}
	return &http.Client{Transport: &http.Transport{
		Proxy:             http.ProxyFromEnvironment,
		DialContext:       d.dial,
		DialTLSContext:    d.dialTLS,
		DisableKeepAlives: true,
		// A stream already is compressed audio; gzip would only cost CPU and
		// hide the byte offsets a Range resume needs.
		DisableCompression: true,
		// net/http's default is 10 MiB; a hostile server need not be fed
		// that much memory before a stream starts.
		MaxResponseHeaderBytes: MaxHeaderBytes,
	}}
}

// checkRedirects returns a copy of c that follows at most max redirects
// in a row, and only to http and https URLs, before the client's own
// CheckRedirect (if any) has its say.
func checkRedirects(c *http.Client, max int) *http.Client {
	cc := *c
	prev := c.CheckRedirect
	cc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
			return fmt.Errorf("%w to %s: scheme %q, want http or https", ErrRedirect, redact.Parsed(req.URL), req.URL.Scheme)
		}
		if len(via) > max {
			return fmt.Errorf("%w: more than %d redirects in a row (the last to %s)", ErrRedirect, max, redact.Parsed(req.URL))
		}
		if prev != nil {
			return prev(req, via)
		}
		return nil
	}
	return &cc
}

// icyDialer dials connections whose first bytes are checked for "ICY ".
type icyDialer struct {
	dialer *net.Dialer
	tls    *tls.Config
}

func (d *icyDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := d.dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &icyConn{Conn: c}, nil
}

// dialTLS does the TLS handshake itself because the status line can only be
// rewritten below net/http and above TLS.
func (d *icyDialer) dialTLS(ctx context.Context, network, addr string) (net.Conn, error) {
	raw, err := d.dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{}
	if d.tls != nil {
		cfg = d.tls.Clone()
	}
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			host = addr
		}
		cfg.ServerName = host
	}
	// Only HTTP/1.1 is spoken on this connection.
	cfg.NextProtos = []string{"http/1.1"}
	tc := tls.Client(raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	return &icyConn{Conn: tc}, nil
}

// icyConn replaces a leading "ICY " of the server's first bytes with
// "HTTP/1.0 ". net/http reads the response on one goroutine, so Read needs
// no lock.
type icyConn struct {
	net.Conn
	checked bool
	pending []byte
}

func (c *icyConn) Read(p []byte) (int, error) {
	if !c.checked {
		c.checked = true
		head := make([]byte, 4)
		n, err := io.ReadFull(c.Conn, head)
		head = head[:n]
		if bytes.Equal(head, []byte("ICY ")) {
			head = []byte("HTTP/1.0 ")
		}
		c.pending = head
		if err != nil && n == 0 {
			return 0, err
		}
		// A short first read (n < 4) is passed on as is; its error, if any,
		// comes back from the next Read.
	}
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
