// Command loaxactl is the operator's and the technician's command line for
// loaxa poles:
//
//   - send: a command to one pole or a group, printing the acks;
//   - watch: what poles report (status, state, telemetry, events, acks);
//   - live: a talk on a channel from a file or stdin, with --play to start
//     it on a pole or a group (in step with --sync);
//   - release: keys, signing, publishing an update and following a fleet's;
//   - provision and console: the technician's side of the serial console
//     (a whole configuration in one step, or an interactive session).
//
// Run `loaxactl -h` for usage.
//
// main.go only wires Run to the process (arguments, signals, exit status);
// everything else sits behind Run so tests drive it against a real broker
// and check output and exit status.
//
// Exit status: 0 success, 1 a command was answered ok:false, 2 usage error,
// 3 no ack arrived in time, 4 the broker could not be reached or the
// connection was lost, 130 interrupted.
package main
