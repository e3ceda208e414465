package ota_test

import (
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/loaxa/loaxa/ota"
)

// A release is signed by the operator (loaxactl release sign does this)
// and verified by the pole, which answers each refusal with its own code.
func Example() {
	// A fixed key so the example's output does not change; use
	// `loaxactl release keygen` (ota.GenerateKey) for a real one.
	key, _ := ota.ParsePrivateKey([]byte("loaxa-ota-private-key-v1 " + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))))
	now := time.Date(2025, 11, 25, 10, 0, 0, 0, time.UTC)
	m := ota.Manifest{
		Format: ota.ManifestFormat, Version: ota.Version{Major: 1, Minor: 3}, Arch: "arm64",
		Size: 18234880, SHA256: strings.Repeat("ab", 32),
		URLs:   []string{"https://updates.example.vn/loaxad/v1.3.0/loaxad-linux-arm64"},
		Issued: now, Expires: now.Add(30 * 24 * time.Hour),
	}
	signed := ota.Signed{Manifest: m, Signatures: []ota.Signature{key.Sign(&m)}}
	raw := signed.Marshal() // the args of the ota command

	policy := ota.Policy{Keys: []ota.PublicKey{key.Public()}, Arch: "arm64", Running: "v1.2.0", Now: now.Add(time.Hour)}
	_, err := ota.Verify(raw, policy)
	fmt.Println("on v1.2.0:", err)

	policy.Running = "v1.4.0"
	_, err = ota.Verify(raw, policy)
	fmt.Println("on v1.4.0:", ota.Code(err), ota.AckCode(err))

	policy.Running, policy.Arch = "v1.2.0", "armv7"
	_, err = ota.Verify(raw, policy)
	fmt.Println("on an armv7 pole:", ota.Code(err))
	// Output:
	// on v1.2.0: <nil>
	// on v1.4.0: downgrade bad_args
	// on an armv7 pole: wrong_arch
}
