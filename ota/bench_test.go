package ota

import (
	"os"
	"path/filepath"
	"testing"
)

// Cost of checking an ota command's manifest (JSON, canonical bytes, one
// ed25519 verification):
//
//	go test -run - -bench Verify ./ota/
func BenchmarkVerify(b *testing.B) {
	k := testKey(1)
	raw := signDoc(docManifest(), k)
	p := Policy{Keys: []PublicKey{testKey(5).Public(), k.Public()}, Arch: "arm64", Running: "v1.2.0", Now: t0}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(raw, p); err != nil {
			b.Fatal(err)
		}
	}
}

// Throughput of checking a slot's binary (SHA-256 of the whole file),
// which the supervisor does before every start of an agent:
//
//	go test -run - -bench CheckSlot ./ota/
func BenchmarkCheckSlot(b *testing.B) {
	l := NewLayout(b.TempDir())
	bin := fakeBinary(16<<20, 1)
	os.MkdirAll(l.SlotDir("a"), 0o755)
	if err := os.WriteFile(filepath.Join(l.SlotDir("a"), "loaxad"), bin, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := l.WriteSlotInfo("a", &SlotInfo{Version: "v1.2.0", Size: int64(len(bin)), SHA256: sha(bin), Origin: OriginFactory}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(bin)))
	for b.Loop() {
		if _, err := l.CheckSlot("a", nil); err != nil {
			b.Fatal(err)
		}
	}
}
