//go:build !linux

package board

import (
	"fmt"

	"github.com/loaxa/loaxa/hal"
)

// ClockStatus is only known on Linux.
func (b *Board) ClockStatus() (hal.ClockStatus, error) {
	return hal.ClockStatus{Source: "kernel"}, fmt.Errorf("clock status: %w", hal.ErrAbsent)
}
