// Package console is the pole's serial console: how a technician at the foot
// of a pole, with a laptop and a USB-serial cable, turns a blank board into a
// working pole and checks every part, before the board has any network or
// broker configuration.
//
// The console speaks the MQTT command grammar of docs/protocol.md in two
// forms on one line discipline: human lines (`zones on z1 z2`, `volume 70`,
// `config set mqtt.broker tls://…:8883`) are translated into the same
// command documents ({"id","cmd","args"}) that MQTT carries and executed by
// the same handlers through Backend.Do; a line starting with '{' is such a
// document, answered by one ack document on one line (for tools such as
// `loaxactl provision`, which uses Client). Technician commands (`test
// relay z1`, `test tone`, `test modem`, `test broker`, `provision`,
// `factory-reset`) call the Backend's other methods.
//
// Nothing that arrives on the wire can disturb the agent: lines are bounded
// (8 KiB for human lines, 64 KiB for a JSON document), binary noise and
// invalid UTF-8 are answered with an error line, a pulled cable ends the
// session and the port is opened again with backoff. Once a console password
// is set (console.password, stored as a salted PBKDF2 hash), read-only
// commands still work but changing anything needs `login`; wrong passwords
// wait longer and longer, idle sessions log out, and secrets are neither
// echoed nor read back. Every session and command is reported through a
// non-blocking callback, never with a secret in it.
//
// A Server owns one goroutine (plus a reader and a writer per open port),
// started by Start and waited for by Close. All timing is on internal/clock.
package console
