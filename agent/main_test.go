package agent

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/loaxa/loaxa/internal/testbin"
)

// Every goroutine the agent starts must end with its context: a leak here
// is a pole that slowly fills its memory. The binaries the end-to-end tests
// built go with the test process.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		testbin.Cleanup()
		os.Exit(code)
	}))
}
