// Package timerfd sleeps on a Linux timerfd instead of a Go timer, for a
// loop that paces audio in real time.
//
// A Go timer of d wakes the process twice or three times on Linux: the
// runtime's poller waits whole milliseconds, rounded down, then 1 ms
// more; and the runtime's monitor thread (sysmon) sleeps until the next
// timer too, wakes with it and then polls every 20 µs while anything
// runs. At 25 writes a second that was most of the CPU the simulated
// speaker's pacing cost. A timerfd is one descriptor in the same poller:
// the kernel wakes the sleeping goroutine once, at the nanosecond, and
// the monitor thread is not told. The two system calls of a sleep
// (arming, reading) are raw: they never block, and a raw call does not
// wake the monitor thread either.
//
// Where there is no timerfd, New returns an error and the caller uses a
// Go timer.
package timerfd
