//go:build !unix

package supervisor

import (
	"errors"
	"net"
	"os"
)

func socketPair() (net.Conn, *os.File, error) {
	return nil, nil, errors.New("the supervisor needs a unix system")
}
