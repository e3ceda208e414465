// Package wire holds the loaxa v1 MQTT contract: topic names, the command and
// ack documents, error codes, and the strict decoder that turns an untrusted
// payload into a Command or a precise error. Both the agent and loaxactl use
// it, so the two sides cannot drift apart. docs/protocol.md describes the
// contract for people.
package wire
