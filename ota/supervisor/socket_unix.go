//go:build unix

package supervisor

import (
	"fmt"
	"net"
	"os"
	"syscall"
)

// socketPair returns the supervisor's end (a net.Conn) and the child's end
// (a file to pass as fd 3) of a new control socket.
func socketPair() (net.Conn, *os.File, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("control socket: %w", err)
	}
	syscall.CloseOnExec(fds[0])
	syscall.CloseOnExec(fds[1]) // exec.Cmd dups it into the child without the flag
	mine := os.NewFile(uintptr(fds[0]), "supervisor-control")
	c, err := net.FileConn(mine)
	mine.Close()
	if err != nil {
		syscall.Close(fds[1])
		return nil, nil, fmt.Errorf("control socket: %w", err)
	}
	return c, os.NewFile(uintptr(fds[1]), "agent-control"), nil
}
