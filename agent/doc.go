// Package agent is the core of loaxad, the pole receiver: it owns the pole's
// state (zones, volume, alarms), executes the commands of the loaxa v1 wire
// contract, and reports state and telemetry over MQTT.
//
// One goroutine, Agent.Run, owns all state. The MQTT link (Link), the input
// poller and the timers only send it messages, so no lock guards the state.
// The link runs in a goroutine that Run starts and waits for.
//
// Sub-packages hold the pieces shared with the operator tool and the tests:
// wire (the contract), config, clock, backoff, atomicfile, broker (the
// embedded demo broker), ctl (loaxactl's logic) and mqtttest (a real
// mosquitto for integration tests).
package agent
