package ota

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestVerify(t *testing.T) {
	k1, k2 := testKey(1), testKey(2)
	bin := fakeBinary(4096, 1)
	base := release("v1.3.0", bin, "https://updates.example.vn/loaxad")
	policy := Policy{Keys: []PublicKey{k1.Public()}, Arch: Arch(), Running: "v1.2.0", Highest: "v1.2.0", Now: t0, MaxSize: 1 << 20}
	with := func(f func(m *Manifest)) Manifest {
		m := base
		f(&m)
		return m
	}
	tampered := func() []byte {
		var doc map[string]any
		json.Unmarshal(signDoc(base, k1), &doc)
		doc["manifest"].(map[string]any)["sha256"] = sha([]byte("another binary"))
		b, _ := json.Marshal(doc)
		return b
	}
	tests := []struct {
		name   string
		raw    []byte
		policy func(p *Policy)
		want   error
		code   string
		msg    string
	}{
		{"good", signDoc(base, k1), nil, nil, "", ""},
		{"good, signed by an unknown key and a trusted one", signDoc(base, k2, k1), nil, nil, "", ""},
		{"tampered after signing", tampered(), nil, ErrBadSignature, "bad_signature", "does not match the manifest"},
		{"unknown key", signDoc(base, k2), nil, ErrUnknownKey, "unknown_key", "this pole trusts [" + k1.Public().KeyID() + "]"},
		{"no keys configured", signDoc(base, k1), func(p *Policy) { p.Keys = nil }, ErrUnknownKey, "unknown_key", "trusts []"},
		{"expired", signDoc(with(func(m *Manifest) { m.Expires = t0 }), k1), nil, ErrExpired, "expired", "expired at 2025-11-25T10:00:00Z"},
		{"issued in the future", signDoc(with(func(m *Manifest) { m.Issued = t0.Add(time.Hour) }), k1), nil, ErrNotYetValid, "not_yet_valid", "1h0m0s ahead"},
		{"issued within the skew", signDoc(with(func(m *Manifest) { m.Issued = t0.Add(5 * time.Minute) }), k1), nil, nil, "", ""},
		{"wrong arch", signDoc(with(func(m *Manifest) { m.Arch = "mips" }), k1), nil, ErrWrongArch, "wrong_arch", "the release is for mips"},
		{"too large", signDoc(with(func(m *Manifest) { m.Size = 2 << 20 }), k1), nil, ErrTooLarge, "too_large", "at most 1048576"},
		{"below min_version", signDoc(with(func(m *Manifest) { v, _ := ParseVersion("v1.2.5"); m.MinVersion = &v }), k1), nil, ErrBelowMinVersion, "below_min_version", "install v1.2.5 first"},
		{"downgrade", signDoc(with(func(m *Manifest) { m.Version, _ = ParseVersion("v1.1.0") }), k1), nil, ErrDowngrade, "downgrade", "this pole runs v1.2.0"},
		{"same as running", signDoc(with(func(m *Manifest) { m.Version, _ = ParseVersion("v1.2.0") }), k1), nil, ErrDowngrade, "downgrade", ""},
		{"replay of an accepted release", signDoc(base, k1), func(p *Policy) { p.Highest = "v1.3.0" }, ErrReplay, "replay", "already accepted v1.3.0"},
		{"older than one accepted", signDoc(base, k1), func(p *Policy) { p.Highest = "v1.4.0" }, ErrReplay, "replay", ""},
		{"dev build accepts any release", signDoc(base, k1), func(p *Policy) { p.Running, p.Highest = "dev", "" }, nil, "", ""},
		{"malformed", []byte(`{"manifest":{}}`), nil, ErrMalformed, "malformed", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := policy
			if tt.policy != nil {
				tt.policy(&p)
			}
			s, err := Verify(tt.raw, p)
			if tt.want == nil {
				if err != nil || s == nil {
					t.Fatalf("= %v; want accepted", err)
				}
				return
			}
			if !errors.Is(err, tt.want) || Code(err) != tt.code || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("= %v (code %q); want %v (code %q) mentioning %q", err, Code(err), tt.want, tt.code, tt.msg)
			}
			if AckCode(err) != "bad_args" {
				t.Errorf("AckCode = %q; a refused manifest is bad_args", AckCode(err))
			}
		})
	}
}

// Each refusal has its own code: an operator's tool can switch on it.
func TestCodesAreDistinct(t *testing.T) {
	seen := map[string]error{}
	for _, c := range codes {
		if prev, dup := seen[c.code]; dup {
			t.Errorf("%v and %v share the code %q", prev, c.err, c.code)
		}
		seen[c.code] = c.err
	}
	if Code(errors.New("other")) != "internal" {
		t.Error("a foreign error is not internal")
	}
}

func TestTrustedKeysRotation(t *testing.T) {
	cfg := []PublicKey{testKey(1).Public()}
	rotated := []PublicKey{testKey(2).Public(), testKey(3).Public()}
	d := Doc{Trust: &Trust{ConfigKeys: KeysFingerprint(cfg), Keys: []string{rotated[0].String(), rotated[1].String()}}}
	if got := TrustedKeys(cfg, d); len(got) != 2 || got[0].KeyID() != rotated[0].KeyID() {
		t.Errorf("a rotated list is not used: %v", got)
	}
	// The technician changed ota.keys: the configuration wins again.
	other := []PublicKey{testKey(4).Public()}
	if got := TrustedKeys(other, d); len(got) != 1 || got[0].KeyID() != other[0].KeyID() {
		t.Errorf("changed ota.keys did not win: %v", got)
	}
	if got := TrustedKeys(cfg, Doc{}); len(got) != 1 {
		t.Errorf("no rotation: %v", got)
	}
}
