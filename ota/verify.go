package ota

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"time"
)

// DefaultMaxSkew is how far in the future a manifest's issued time may be
// and still be accepted: pole clocks drift, and a pole that just booted
// may not have synchronised yet.
const DefaultMaxSkew = 10 * time.Minute

// Policy is what a pole checks a manifest against.
type Policy struct {
	// Keys are the trusted signing keys (TrustedKeys).
	Keys []PublicKey
	// Arch is this pole's architecture (Arch()).
	Arch string
	// Running is the version running now; a version that does not parse
	// ("dev") counts as v0.0.0.
	Running string
	// Highest is the highest version ever accepted ("" for none).
	Highest string
	// Now is the pole's clock.
	Now time.Time
	// MaxSkew bounds how far in the future Issued may be (0: DefaultMaxSkew).
	MaxSkew time.Duration
	// MaxSize is the largest binary accepted (0: no limit).
	MaxSize int64
}

// Verify parses and checks a signed manifest. The checks run in this order,
// and the first that fails gives the error, which wraps one of:
// ErrMalformed, ErrUnknownKey / ErrBadSignature, ErrNotYetValid,
// ErrExpired, ErrWrongArch, ErrTooLarge, ErrBelowMinVersion, ErrDowngrade,
// ErrReplay. ErrReplay therefore means every other check passed.
func Verify(raw []byte, p Policy) (*Signed, error) {
	s, err := ParseSigned(raw)
	if err != nil {
		return nil, err
	}
	if err := verifySignatures(s, p.Keys); err != nil {
		return nil, err
	}
	m := &s.Manifest
	skew := p.MaxSkew
	if skew == 0 {
		skew = DefaultMaxSkew
	}
	if m.Issued.After(p.Now.Add(skew)) {
		return nil, fmt.Errorf("%w: issued %s, %s ahead of this pole's clock (%s); check the clocks", ErrNotYetValid,
			fmtTime(m.Issued), m.Issued.Sub(p.Now).Round(time.Second), fmtTime(p.Now))
	}
	if !p.Now.Before(m.Expires) {
		return nil, fmt.Errorf("%w: it expired at %s (pole clock %s); sign a fresh manifest", ErrExpired, fmtTime(m.Expires), fmtTime(p.Now))
	}
	if m.Arch != p.Arch {
		return nil, fmt.Errorf("%w: the release is for %s, this pole is %s", ErrWrongArch, m.Arch, p.Arch)
	}
	if p.MaxSize > 0 && m.Size > p.MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, this pole accepts at most %d (ota.max_size_mb)", ErrTooLarge, m.Size, p.MaxSize)
	}
	running := versionOrZero(p.Running)
	if m.MinVersion != nil && running.Compare(*m.MinVersion) < 0 {
		return nil, fmt.Errorf("%w: the release needs at least %s, this pole runs %s; install %s first", ErrBelowMinVersion,
			m.MinVersion, p.Running, m.MinVersion)
	}
	if m.Version.Compare(running) <= 0 {
		return nil, fmt.Errorf("%w: the release is %s, this pole runs %s", ErrDowngrade, m.Version, p.Running)
	}
	if p.Highest != "" {
		if h := versionOrZero(p.Highest); m.Version.Compare(h) <= 0 {
			return s, fmt.Errorf("%w: the release is %s, this pole already accepted %s; sign a higher version", ErrReplay, m.Version, h)
		}
	}
	return s, nil
}

// verifySignatures accepts the manifest when one signature verifies with a
// trusted key. A signature whose key id names a trusted key but does not
// verify is a bad signature (the manifest was changed after signing, or
// the signature forged); signatures by keys the pole does not trust at
// all are an unknown key.
func verifySignatures(s *Signed, keys []PublicKey) error {
	msg := s.Manifest.SignedBytes()
	byID := map[string]PublicKey{}
	for _, k := range keys {
		byID[k.KeyID()] = k
	}
	var bad string
	for _, sig := range s.Signatures {
		k, ok := byID[sig.KeyID]
		if !ok {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(sig.Sig)
		if err == nil && len(b) == ed25519.SignatureSize && ed25519.Verify(ed25519.PublicKey(k), msg, b) {
			return nil
		}
		bad = sig.KeyID
	}
	if bad != "" {
		return fmt.Errorf("%w: the signature by key %s does not match the manifest", ErrBadSignature, bad)
	}
	ids := make([]string, 0, len(s.Signatures))
	for _, sig := range s.Signatures {
		ids = append(ids, shortText(sig.KeyID, KeyIDLen))
	}
	trusted := make([]string, 0, len(keys))
	for _, k := range keys {
		trusted = append(trusted, k.KeyID())
	}
	return fmt.Errorf("%w: signed by %v, this pole trusts %v (ota.keys)", ErrUnknownKey, ids, trusted)
}

// versionOrZero parses s, counting a version that does not parse (a
// development build, "dev") as v0.0.0: any release is newer.
func versionOrZero(s string) Version {
	v, err := ParseVersion(s)
	if err != nil {
		return Version{}
	}
	return v
}
