//go:build unix

package ota

import "syscall"

// freeSpace is the space an unprivileged writer may use on dir's file system.
func freeSpace(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}
