package board

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/loaxa/loaxa/hal"
)

// ClockStatus reads the kernel's clock discipline (adjtimex, read only):
// the clock is synchronised when the call does not answer TIME_ERROR and
// STA_UNSYNC is clear, which chrony and ntpd arrange once they trust their
// sources.
func (b *Board) ClockStatus() (hal.ClockStatus, error) {
	var tx unix.Timex // Modes 0: read only
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		return hal.ClockStatus{Source: "kernel"}, fmt.Errorf("adjtimex: %w", err)
	}
	return hal.ClockStatus{
		Synced:   state != unix.TIME_ERROR && tx.Status&unix.STA_UNSYNC == 0,
		MaxError: time.Duration(tx.Maxerror) * time.Microsecond,
		Source:   "kernel",
	}, nil
}
