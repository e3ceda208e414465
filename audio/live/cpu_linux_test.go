package live_test

import (
	"syscall"
	"time"
)

// threadCPU returns the CPU time used by the calling OS thread (lock it
// first), so a benchmark can report a cost that does not depend on what
// else the machine is doing.
func threadCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_THREAD, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
