package mqtttest

import (
	"crypto/rand"
	"encoding/hex"
)

// randomSuffix makes client ids unique: two clients with one id make the
// broker disconnect the first, which would look like a flaky test.
func randomSuffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
