//go:build !linux

package supervisor

import "syscall"

func procAttr() *syscall.SysProcAttr { return nil }
