// Package testbin builds the project's real binaries (loaxad, loaxactl) for
// tests that run them as an operator or systemd would, once per test
// process, with the flags `make build` uses.
package testbin
