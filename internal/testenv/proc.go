package testenv

import "os/exec"

// DieWithTest makes cmd, not yet started, die with the test binary. A test
// binary that go test's -timeout panics, or that is killed, runs no
// Cleanup; without this its brokers and agents would live on, piling up on
// the machine. On Linux the kernel sends the process SIGKILL when the
// thread that started it exits (the parent-death signal); Go keeps its
// threads alive unless a goroutine locked to one exits locked, so in
// practice that is when the test binary exits. Elsewhere DieWithTest does
// nothing, and Cleanup must do the work alone. It keeps any other field of
// cmd.SysProcAttr.
func DieWithTest(cmd *exec.Cmd) { dieWithTest(cmd) }
