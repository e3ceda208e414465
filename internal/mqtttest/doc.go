// Package mqtttest runs a real mosquitto broker for integration tests.
//
// loaxa talks to operators through a real broker, and the behaviours that
// matter most (QoS 1 commands queued for a pole whose link dropped, retained
// status and state, the will on a lost connection, reconnects after a broker
// restart) are exactly the ones a hand-written fake gets wrong. So tests start
// /usr/sbin/mosquitto (Debian package "mosquitto"; `make test` installs it) on
// a free loopback port with its own config and persistence directory:
//
//	b := mqtttest.Start(t)
//	msgs := b.Subscribe(t, "loaxa/v1/dev/+/ack")
//	c := mqtttest.Client(t, b, "operator")
//	mqtttest.Publish(t, c, "loaxa/v1/dev/pole-1/cmd", 1, false, []byte(`{"id":"1","cmd":"ping"}`))
//	m := mqtttest.Next(t, msgs)
//
// Persistence is on, so Restart keeps the QoS 1 messages the broker queued
// for clean-session-off clients, as a production broker restart would. Kill
// simulates a broker crash (only what was autosaved survives).
//
// StartWith runs a broker that authenticates its clients (a password_file
// made with mosquitto_passwd) under an acl_file, for tests of access control
// such as scripts/mosquitto-acl.example; ClientAs logs a client in.
//
// Everything is stopped in t.Cleanup; nothing needs closing by hand.
package mqtttest
