// Command loaxad is the loaxa pole agent. See README.md and agent/daemon.
package main
