package main

import (
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/loaxa/loaxa/internal/clock"
)

// Brokers such as EMQX and HiveMQ answer a subscription their ACL denies
// with SUBACK 0x80 (mosquitto 2.0 grants it and then delivers nothing, so
// this uses a scripted broker). A refused ack subscription must not look
// like a silent pole, nor a refused watch like a quiet network.
func TestRefusedSubscription(t *testing.T) {
	addr := refusingBroker(t)
	tests := []struct {
		name string
		args []string
	}{
		{"send", []string{"send", "pole-1", "ping"}},
		{"send to a group", []string{"send", "--group", "all", "ping"}},
		{"watch", []string{"watch"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &harness{t: t, clk: clock.NewFake(t0), env: map[string]string{EnvBroker: "tcp://" + addr}}
			code, _, stderr := h.run(tt.args...)
			if code != ExitUnavailable || !strings.Contains(stderr, "the broker refused the subscription to loaxa/v1/dev/") ||
				!strings.Contains(stderr, "read access") {
				t.Errorf("= %d, stderr %q; want %d and the refused topic named", code, stderr, ExitUnavailable)
			}
		})
	}
}

// refusingBroker accepts MQTT connections and refuses every subscription.
func refusingBroker(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex // guards conns
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := l.Accept()
			if err != nil {
				return // closed by Cleanup
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				for {
					p, err := packets.ReadPacket(conn)
					if err != nil {
						return
					}
					var reply packets.ControlPacket
					switch p := p.(type) {
					case *packets.ConnectPacket:
						reply = packets.NewControlPacket(packets.Connack)
					case *packets.SubscribePacket:
						sa := packets.NewControlPacket(packets.Suback).(*packets.SubackPacket)
						sa.MessageID = p.MessageID
						for range p.Topics {
							sa.ReturnCodes = append(sa.ReturnCodes, 0x80)
						}
						reply = sa
					case *packets.PingreqPacket:
						reply = packets.NewControlPacket(packets.Pingresp)
					case *packets.DisconnectPacket:
						return
					default:
						continue
					}
					if reply.Write(conn) != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}
