// Package mqtttest runs a real mosquitto broker for integration tests.
//
// loaxa talks to operators through a real broker, and the behaviours that
// matter most (QoS 1 commands queued for a pole whose link dropped, retained
// status and state, the will on a lost connection, reconnects after a broker
// restart) are exactly the ones a hand-written fake gets wrong. So tests start
// mosquitto (Debian package "mosquitto"; `make test` installs it) on a free
// loopback port with its own config and persistence directory. Without
// mosquitto a test fails under CI=true and is skipped elsewhere, saying
// which package to install (internal/testenv):
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
// WaitDisconnected reads the broker's log to tell when a client is gone, so
// a test can check that nothing more arrives without waiting an arbitrary
// time: wait, publish a marker, read up to it.
//
// StartWith runs a broker with other settings: a bound on the messages it
// queues for a client (MaxQueued), or clients that must authenticate (a
// password_file made with mosquitto_passwd) under an acl_file, for tests of
// access control such as scripts/mosquitto-acl.example; ClientAs logs a
// client in.
//
// Everything is stopped in t.Cleanup, and mosquitto is killed by the kernel
// if the test binary dies without running it (parent-death signal);
// nothing needs closing by hand.
package mqtttest
