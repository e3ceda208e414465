// Command loaxactl is the operator's command line for loaxa poles: send a
// command to a pole or a group and print the acks, or watch what poles
// report, or go live on a channel from a file or stdin. Run `loaxactl -h`
// for usage; the logic is in agent/ctl.
package main
