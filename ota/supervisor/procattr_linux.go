package supervisor

import "syscall"

// procAttr makes the kernel kill the agent when the supervisor dies
// (SIGKILL, a crash): without it a restarted supervisor would start a
// second agent beside the orphan. Under systemd the cgroup is killed
// anyway. Pdeathsig follows the thread that started the child, which Go
// keeps alive unless a goroutine locked to it exits.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
