// Package backoff is the one retry-delay helper of loaxa: exponential growth
// with full jitter ("sleep = random(0, min(cap, base·2^n))"), reset on
// success, and a context-aware wait. MQTT reconnects, modem recovery and
// downloads all use it, so thousands of poles never retry in one wave.
package backoff
