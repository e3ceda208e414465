//go:build !linux

package timerfd

import (
	"errors"
	"time"
)

// Timer is a timerfd; only Linux has one.
type Timer struct{}

// ErrClosed is what a Sleep that Close ended returns.
var ErrClosed = errors.New("timerfd: timer closed")

// New fails: the caller uses a Go timer.
func New() (*Timer, error) { return nil, errors.New("timerfd: needs Linux") }

// Sleep does nothing.
func (t *Timer) Sleep(time.Duration) error { return ErrClosed }

// Every fails.
func (t *Timer) Every(time.Duration) error { return ErrClosed }

// Wait does nothing.
func (t *Timer) Wait() error { return ErrClosed }

// Close does nothing.
func (t *Timer) Close() error { return nil }
