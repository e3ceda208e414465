//go:build !linux

package main

import (
	"errors"
	"os"
)

// On other systems the terminal stays as it is: `loaxactl console` then
// sends whole lines, and passwords are echoed (use --password-file).

func makeRaw(fd int) (restore func(), ok bool) { return func() {}, false }

func noEcho(fd int) (restore func(), ok bool) { return func() {}, false }

func pollable(fd int, name string) (*os.File, func(), error) {
	return nil, nil, errors.New("not supported")
}
