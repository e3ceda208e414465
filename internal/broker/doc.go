// Package broker runs an in-process MQTT broker (mochi-mqtt) for demos and
// tests: `loaxad --broker embedded` starts one on 127.0.0.1:1883 so a
// newcomer needs nothing else to try the agent. Real deployments use the
// province's broker (mosquitto, EMQX, HiveMQ).
package broker
