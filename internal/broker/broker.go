package broker

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// Broker is a running embedded broker.
type Broker struct {
	srv  *mochi.Server
	addr string
	once sync.Once
}

// Start listens on addr (host:port; port 0 picks a free one) and serves
// until Close. It accepts any client: it is for loopback demos only.
func Start(addr string, log *slog.Logger) (*Broker, error) {
	// Claim the address first so "port in use" is a clear error here rather
	// than a log line from a listener goroutine.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("embedded broker: %w (is another broker running? use --broker tcp://HOST:PORT)", err)
	}
	real := ln.Addr().String()
	ln.Close()
	if log == nil {
		log = slog.Default()
	}
	// Only the broker's warnings: its per-connection chatter would drown
	// the agent's own log in a demo.
	quiet := slog.New(levelFilter{log.Handler(), slog.LevelWarn}).With("component", "embedded-broker")
	srv := mochi.New(&mochi.Options{InlineClient: false, Logger: quiet})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: "tcp", Address: real})); err != nil {
		return nil, fmt.Errorf("embedded broker: listen %s: %w", real, err)
	}
	if err := srv.Serve(); err != nil {
		srv.Close()
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	return &Broker{srv: srv, addr: real}, nil
}

// Addr is the host:port the broker listens on.
func (b *Broker) Addr() string { return b.addr }

// URL is the broker's tcp:// URL.
func (b *Broker) URL() string { return "tcp://" + b.addr }

// Close stops the broker; it is safe to call twice.
func (b *Broker) Close() error {
	var err error
	b.once.Do(func() { err = b.srv.Close() })
	return err
}

// levelFilter passes records at or above min to the wrapped handler.
type levelFilter struct {
	slog.Handler
	min slog.Level
}

func (f levelFilter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.min && f.Handler.Enabled(ctx, l)
}

func (f levelFilter) WithAttrs(a []slog.Attr) slog.Handler {
	return levelFilter{f.Handler.WithAttrs(a), f.min}
}

func (f levelFilter) WithGroup(name string) slog.Handler {
	return levelFilter{f.Handler.WithGroup(name), f.min}
}
