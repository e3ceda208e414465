// Command loaxactl is the operator's command line for loaxa poles: it sends
// a command to one pole or a group and prints the acks, watches what poles
// report (status, state, telemetry, events, acks), or goes live on a channel
// from a file or stdin. Run `loaxactl -h` for usage.
//
// main.go only wires Run to the process (arguments, signals, exit status);
// everything else sits behind Run so tests drive it against a real broker
// and check output and exit status.
//
// Exit status: 0 success, 1 a command was answered ok:false, 2 usage error,
// 3 no ack arrived in time, 4 the broker could not be reached or the
// connection was lost, 130 interrupted.
package main
