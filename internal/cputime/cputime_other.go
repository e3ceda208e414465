//go:build !linux

package cputime

import "time"

// Thread is only measured on Linux; elsewhere ok is false.
func Thread() (time.Duration, bool) { return 0, false }
