package ota

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// PublicKey is a trusted release-signing key (ed25519, 32 bytes).
type PublicKey []byte

// KeyIDLen is the length in hex digits of a key id.
const KeyIDLen = 16

// KeyID names a public key: the first 8 bytes of its SHA-256, in hex. It
// is a hint that lets a pole pick the key that made a signature and lets
// people tell keys apart in logs; it is never trusted on its own.
func (k PublicKey) KeyID() string {
	sum := sha256.Sum256(k)
	return hex.EncodeToString(sum[:KeyIDLen/2])
}

// String is the key in standard base64, the form written to ota.keys and
// to the manifest's "keys".
func (k PublicKey) String() string { return base64.StdEncoding.EncodeToString(k) }

// ParsePublicKey reads a public key written as 64 hex digits or as the
// standard (or URL-safe) base64 of its 32 bytes.
func ParsePublicKey(s string) (PublicKey, error) {
	s = strings.TrimSpace(s)
	var b []byte
	var err error
	switch {
	case len(s) == 2*ed25519.PublicKeySize:
		b, err = hex.DecodeString(s)
	default:
		b, err = base64.StdEncoding.DecodeString(s)
		if err != nil {
			b, err = base64.URLEncoding.DecodeString(s)
		}
	}
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("public key %q: expected an ed25519 public key as 64 hex digits or 44 base64 characters", shortText(s, 20))
	}
	return PublicKey(b), nil
}

// ParsePublicKeys parses a list of keys (ota.keys), refusing duplicates.
func ParsePublicKeys(list []string) ([]PublicKey, error) {
	out := make([]PublicKey, 0, len(list))
	seen := map[string]bool{}
	for i, s := range list {
		k, err := ParsePublicKey(s)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i+1, err)
		}
		if seen[k.KeyID()] {
			return nil, fmt.Errorf("key %d: %s is listed twice", i+1, k.KeyID())
		}
		seen[k.KeyID()] = true
		out = append(out, k)
	}
	return out, nil
}

// PrivateKey is a release-signing key; it stays with the operator, never
// on a pole.
type PrivateKey struct{ key ed25519.PrivateKey }

// GenerateKey makes a new signing key from crypto/rand.
func GenerateKey() (*PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ed25519 key: %w", err)
	}
	return &PrivateKey{priv}, nil
}

// Public returns the key's public half.
func (p *PrivateKey) Public() PublicKey { return PublicKey(p.key.Public().(ed25519.PublicKey)) }

// privateKeyTag heads a private key file so it cannot be mistaken for a
// public key (or another tool's key) and pasted into a pole's ota.keys.
const privateKeyTag = "loaxa-ota-private-key-v1"

// MarshalText writes the private key file: a comment naming the key, then
// the tag and the base64 of the 32-byte seed.
func (p *PrivateKey) MarshalText() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# loaxa release signing key %s: keep it secret, never copy it to a pole\n", p.Public().KeyID())
	fmt.Fprintf(&b, "%s %s\n", privateKeyTag, base64.StdEncoding.EncodeToString(p.key.Seed()))
	return b.Bytes()
}

// ParsePrivateKey reads a private key file written by MarshalText. Lines
// starting with '#' are comments.
func ParsePrivateKey(data []byte) (*PrivateKey, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		tag, val, _ := strings.Cut(line, " ")
		if tag != privateKeyTag {
			break
		}
		seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(val))
		if err != nil || len(seed) != ed25519.SeedSize {
			// err is not wrapped: it would quote part of a secret.
			return nil, errors.New("private key: the value after " + privateKeyTag + " is not the base64 of a 32-byte seed")
		}
		return &PrivateKey{ed25519.NewKeyFromSeed(seed)}, nil
	}
	return nil, errors.New("private key: expected a line \"" + privateKeyTag + " BASE64\" as written by `loaxactl release keygen`")
}

// Sign signs m with p and returns the signature entry to add to a signed
// manifest.
func (p *PrivateKey) Sign(m *Manifest) Signature {
	sig := ed25519.Sign(p.key, m.SignedBytes())
	return Signature{KeyID: p.Public().KeyID(), Sig: base64.StdEncoding.EncodeToString(sig)}
}

func shortText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
