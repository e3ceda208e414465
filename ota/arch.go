package ota

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// Arch names the architecture of the running binary the way manifests do:
// GOARCH, and for 32-bit ARM the GOARM level ("armv6", "armv7"), since an
// ARMv7 binary does not run on an ARMv6 board.
func Arch() string {
	if runtime.GOARCH != "arm" {
		return runtime.GOARCH
	}
	level := "7" // the Go toolchain's default when cross-compiling
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "GOARM" && s.Value != "" {
				level, _, _ = strings.Cut(s.Value, ",") // "7,softfloat"
			}
		}
	}
	return "armv" + level
}
