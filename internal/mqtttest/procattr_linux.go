package mqtttest

import "syscall"

// procAttr makes the kernel kill mosquitto when the test binary dies
// without running its Cleanup (go test's -timeout panic, a SIGKILL, an
// os.Exit); otherwise orphaned brokers pile up on the machine. Pdeathsig is
// tied to the thread that started the process, which Go keeps alive unless
// a goroutine locked to it exits: good enough for a test helper.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
