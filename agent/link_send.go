package agent

import (
	"context"
	"fmt"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// sender publishes the outbox in order with up to window QoS 1 messages
// waiting for their PUBACK, and removes each once acknowledged.
type sender struct {
	l        *Link
	c        mqtt.Client
	lost     <-chan error
	inflight []flight
}

type flight struct {
	it  *outItem
	tok mqtt.Token
}

// oldest is the done channel of the oldest message in flight (nil: none).
func (s *sender) oldest() <-chan struct{} {
	if len(s.inflight) == 0 {
		return nil
	}
	return s.inflight[0].tok.Done()
}

// collect takes the acknowledged messages off the front of the window.
func (s *sender) collect() (done []*outItem, err error) {
	for len(s.inflight) > 0 {
		f := s.inflight[0]
		select {
		case <-f.tok.Done():
		default:
			return done, nil
		}
		if err := f.tok.Error(); err != nil {
			return done, fmt.Errorf("publish %s: %w", f.it.Topic, err)
		}
		done = append(done, f.it)
		s.inflight = s.inflight[1:]
	}
	return done, nil
}

// flush collects the acknowledged messages and fills the window; it does
// not wait.
func (s *sender) flush(ctx context.Context) error {
	for {
		done, err := s.collect()
		if len(done) > 0 {
			s.l.tx.Add(uint64(len(done)))
			if err := s.l.out.delivered(done); err != nil {
				s.l.log.Error("outbox: cannot mark messages delivered", "err", err)
			}
		}
		if err != nil {
			return err
		}
		room := window - len(s.inflight)
		if room <= 0 {
			return nil
		}
		next := s.l.out.next(room)
		if len(next) == 0 {
			return nil
		}
		for _, it := range next {
			s.inflight = append(s.inflight, flight{it, s.c.Publish(it.Topic, it.QoS, it.Retained, it.Payload)})
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// drain waits (bounded by ctx) until everything queued is acknowledged.
func (s *sender) drain(ctx context.Context) {
	for {
		if err := s.flush(ctx); err != nil || len(s.inflight) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-s.lost:
			return
		case <-s.oldest():
		}
	}
}
