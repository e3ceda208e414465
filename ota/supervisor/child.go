package supervisor

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
)

// ChildSpec is what the supervisor starts.
type ChildSpec struct {
	// Path is the slot's binary; Args its arguments (without argv[0]).
	Path string
	Args []string
	// Env is the whole environment, EnvInfo included.
	Env []string
	// Ctl is the child's end of the control socket, to be its fd 3.
	Ctl *os.File
}

// Child is a started agent.
type Child interface {
	// Signal sends a signal (SIGTERM, SIGINT).
	Signal(os.Signal) error
	// Kill kills it at once.
	Kill() error
	// Wait waits for it to end.
	Wait() ExitStatus
}

// StartFunc starts a child. The default starts a process; tests start
// fakes in-process.
type StartFunc func(ChildSpec) (Child, error)

// ExitStatus is how a child ended.
type ExitStatus struct {
	// Code is the exit status, -1 when killed by a signal or never started.
	Code int
	// Signal names the signal that killed it ("killed").
	Signal string
	// Err is set when it could not start or be waited for.
	Err error
}

// String says it for a person and for the rollback record.
func (e ExitStatus) String() string {
	switch {
	case e.Err != nil:
		return e.Err.Error()
	case e.Signal != "":
		return "killed by signal: " + e.Signal
	}
	return fmt.Sprintf("exit status %d", e.Code)
}

// StartProcess is the default StartFunc: it runs the binary with the
// control socket as fd 3, the output going to stdout and stderr (the
// journal, under systemd). On Linux the child is killed if the
// supervisor dies, so two agents never run at once.
func StartProcess(stdout, stderr io.Writer) StartFunc {
	return func(spec ChildSpec) (Child, error) {
		cmd := exec.Command(spec.Path, spec.Args...)
		cmd.Env = spec.Env
		cmd.Stdout, cmd.Stderr = stdout, stderr
		cmd.ExtraFiles = []*os.File{spec.Ctl}
		cmd.SysProcAttr = procAttr()
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		return &process{cmd: cmd}, nil
	}
}

type process struct{ cmd *exec.Cmd }

func (p *process) Signal(s os.Signal) error { return p.cmd.Process.Signal(s) }
func (p *process) Kill() error              { return p.cmd.Process.Kill() }

func (p *process) Wait() ExitStatus {
	err := p.cmd.Wait()
	st := p.cmd.ProcessState
	if st == nil {
		return ExitStatus{Code: -1, Err: err}
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return ExitStatus{Code: -1, Signal: ws.Signal().String()}
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return ExitStatus{Code: st.ExitCode(), Err: err}
	}
	return ExitStatus{Code: st.ExitCode()}
}
