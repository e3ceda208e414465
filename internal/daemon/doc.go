// Package daemon is loaxad's start-up: flags, configuration, hardware
// (real or simulated), the embedded broker, logging, systemd notification
// and signals. cmd/loaxad only calls Main, so everything here is reachable
// from tests.
package daemon
