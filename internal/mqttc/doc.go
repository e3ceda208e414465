// Package mqttc holds what the agent's MQTT link and loaxactl share about
// talking to a broker: one check of a broker URL, one TLS set-up from PEM
// files, and the waits on paho tokens (which report a refused subscription
// as a code, not as an error).
package mqttc
