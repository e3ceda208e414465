// Package cputime reads the CPU time a thread has used, so benchmarks can
// report a cost that does not grow when the machine is busy with other work
// (wall time does). Benchmarks of several packages share it.
package cputime
