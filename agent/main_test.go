package agent

import (
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine the agent starts must end with its context: a leak here
// is a pole that slowly fills its memory.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
