package hal

import "time"

// ClockStatus is what the system clock knows of itself: whether it is
// synchronised (chrony/NTP or the modem's network time keeps it right),
// and how far off it may be.
type ClockStatus struct {
	// Synced is the kernel's view (adjtimex: not TIME_ERROR, STA_UNSYNC
	// clear).
	Synced bool `json:"synced"`
	// MaxError bounds the clock's error as the kernel estimates it; 0 when
	// unknown.
	MaxError time.Duration `json:"max_error"`
	// Source says where the status comes from ("kernel", "sim").
	Source string `json:"source"`
}

// SyncClock reports the synchronisation of the system clock. A schedule
// must not play at a wrong hour, and poles playing one live talk in step
// rely on their clocks agreeing: both ask this first.
type SyncClock interface {
	String() string
	// ClockStatus reads the status now; an error means it could not be read
	// (the agent then treats the clock as not synchronised).
	ClockStatus() (ClockStatus, error)
}
