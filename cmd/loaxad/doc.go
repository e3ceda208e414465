// Command loaxad is the loaxa pole agent. `loaxad supervise` (what the
// systemd unit runs) is the over-the-air update supervisor, which runs the
// agent from one of two slots (ota/supervisor, docs/ota.md). The process
// wiring (flags, configuration, hardware, audio) is in internal/daemon;
// see README.md.
package main
