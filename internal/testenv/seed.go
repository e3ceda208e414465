package testenv

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// Seed returns a seed for a test's randomness: the clock's, or the value
// of the environment variable env to replay a failure. It logs env=seed,
// so a failing run says how to replay it.
func Seed(tb testing.TB, env string) uint64 {
	tb.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(env); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			tb.Fatalf("%s: %v", env, err)
		}
	}
	tb.Logf("%s=%d (replays this run)", env, seed)
	return seed
}
