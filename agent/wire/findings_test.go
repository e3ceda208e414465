package wire

import (
	"bytes"
	"testing"
)

// Issue 7, finding 8: a document with a key twice ran its last value
// (`"cmd":"ping","cmd":"reboot"` rebooted), and a ts sent as a string was
// taken as a number.
func TestDecodeRefusesDuplicateKeysAndQuotedNumbers(t *testing.T) {
	for _, payload := range []string{
		`{"id":"a","cmd":"ping","cmd":"reboot"}`,
		`{"id":"a","id":"b","cmd":"ping"}`,
		`{"id":"a","cmd":"ping","ts":1764100000000,"ts":1764100000001}`,
		`{"id":"a","cmd":"zones","args":{"on":["z1"]},"args":{"all":true}}`,
		`{"id":"a","cmd":"ping","ts":"1764100000000"}`,
		`{"id":"a","cmd":"ping","ts":1764100000000,"ttl":"30000"}`,
	} {
		if _, err := Decode([]byte(payload), now); err == nil || err.Code != CodeBadRequest {
			t.Errorf("Decode(%s) = %v, want bad_request", payload, err)
		}
	}
}

func TestDecodeArgsRefusesDuplicateKeys(t *testing.T) {
	var v struct {
		Level int `json:"level"`
	}
	for _, args := range []string{`{"level":10,"level":90}`, `{"a":{"b":1,"b":2}}`, `{"level":1,"x":[{"k":1,"k":2}]}`} {
		if err := DecodeArgs([]byte(args), &v); err == nil || err.Code != CodeBadArgs {
			t.Errorf("DecodeArgs(%s) = %v, want bad_args", args, err)
		}
	}
	if err := DecodeArgs([]byte(`{"level":10}`), &v); err != nil || v.Level != 10 {
		t.Errorf("DecodeArgs of a plain object: %v, %d", err, v.Level)
	}
}

// Issue 7, finding 2: a signature did not cover the target, so a command
// signed for one pole ran on every pole with the same key.
func TestSignatureCoversTheTarget(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	c := &Command{ID: "c-1", Cmd: "reboot", TS: 1764100000000}
	sig := Sign(key, "dev/pole-1", c.ID, c.Cmd, c.TS, c.Args)
	if !Verify(key, "dev/pole-1", c, sig) {
		t.Fatal("the signature does not verify on its own target")
	}
	for _, other := range []string{"dev/pole-2", "grp/all", "grp/pole-1", ""} {
		if Verify(key, other, c, sig) {
			t.Errorf("a command signed for dev/pole-1 verifies on %q", other)
		}
	}
	// The v1 form (no target) is refused by Verify; VerifyLegacy is for
	// poles whose auth.legacy_signatures allows it during a migration.
	old := Signature(key, c.ID, c.Cmd, c.TS, c.Args)
	if Verify(key, "dev/pole-1", c, old) {
		t.Error("a v1 signature verifies as v2")
	}
	if !VerifyLegacy(key, c, old) {
		t.Error("VerifyLegacy refuses a v1 signature")
	}
	if bytes.Equal([]byte(sig), []byte(old)) {
		t.Error("v1 and v2 signatures are the same")
	}
}
