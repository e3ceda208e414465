package cputime

import (
	"syscall"
	"time"
)

// Thread returns the CPU time (user + system) used so far by the calling OS
// thread; lock the goroutine to its thread first (runtime.LockOSThread).
func Thread() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_THREAD, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
