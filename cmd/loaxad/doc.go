// Command loaxad is the loaxa pole agent. The process wiring (flags, configuration, hardware, audio)
// is in internal/daemon; see README.md.
package main
