package console

import (
	"bytes"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Password hashing parameters. The hash string carries its own iteration
// count, so raising Iterations later does not invalidate stored hashes.
const (
	// Iterations of PBKDF2-HMAC-SHA256 for new hashes: OWASP's 2023 figure.
	// A Raspberry Pi 3 needs well under a second for one check, which is
	// also a floor under how fast a script can guess.
	Iterations = 600_000
	// MinIterations and MaxIterations bound what a stored or supplied hash
	// may say: fewer is too weak, more would let a hash set over MQTT hang
	// every login.
	MinIterations = 100_000
	MaxIterations = 10_000_000
	// MinPasswordLen and MaxPasswordLen bound a plain password, in
	// characters and bytes.
	MinPasswordLen = 8
	MaxPasswordLen = 1024

	hashScheme = "pbkdf2-sha256"
	saltLen    = 16
	keyLen     = 32
)

var b64 = base64.RawStdEncoding

// HashPassword returns the hash of a plain console password in the PHC
// string format, "$pbkdf2-sha256$i=600000$SALT$KEY" (unpadded base64), with
// a random salt. This string is what console.password holds.
func HashPassword(plain string) (string, error) {
	return hashWith(plain, Iterations)
}

func hashWith(plain string, iter int) (string, error) {
	if err := checkPlain(plain); err != nil {
		return "", err
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("console: password salt: %w", err)
	}
	key, err := pbkdf2.Key(sha256.New, plain, salt, iter, keyLen)
	if err != nil {
		return "", fmt.Errorf("console: password hash: %w", err)
	}
	return fmt.Sprintf("$%s$i=%d$%s$%s", hashScheme, iter, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

func checkPlain(plain string) error {
	switch {
	case !utf8.ValidString(plain):
		return errors.New("the password is not valid UTF-8")
	case utf8.RuneCountInString(plain) < MinPasswordLen:
		return fmt.Errorf("the password must have at least %d characters", MinPasswordLen)
	case len(plain) > MaxPasswordLen:
		return fmt.Errorf("the password must have at most %d bytes", MaxPasswordLen)
	case strings.TrimSpace(plain) != plain:
		// A terminal or a file often adds a space or a newline; refusing
		// it beats a password nobody can type again.
		return errors.New("the password must not start or end with white space")
	}
	return nil
}

type parsedHash struct {
	iter      int
	salt, key []byte
}

func parseHash(s string) (parsedHash, error) {
	const want = "expected a hash made by HashPassword ($pbkdf2-sha256$i=N$SALT$KEY) or a plain password"
	parts := strings.Split(s, "$")
	if len(parts) != 5 || parts[0] != "" || parts[1] != hashScheme {
		return parsedHash{}, errors.New("not a password hash; " + want)
	}
	n, ok := strings.CutPrefix(parts[2], "i=")
	iter, err := strconv.Atoi(n)
	if !ok || err != nil {
		return parsedHash{}, errors.New("the hash has no iteration count; " + want)
	}
	if iter < MinIterations || iter > MaxIterations {
		return parsedHash{}, fmt.Errorf("the hash has %d iterations; expected %d..%d", iter, MinIterations, MaxIterations)
	}
	salt, err1 := b64.DecodeString(parts[3])
	key, err2 := b64.DecodeString(parts[4])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) != keyLen {
		return parsedHash{}, errors.New("the hash's salt or key is malformed; " + want)
	}
	return parsedHash{iter: iter, salt: salt, key: key}, nil
}

// IsHash reports whether s looks like a password hash (rather than a plain
// password), whether or not it is a valid one.
func IsHash(s string) bool { return strings.HasPrefix(s, "$"+hashScheme+"$") }

// CheckHash reports whether s is a valid password hash. Its errors never
// quote s.
func CheckHash(s string) error {
	_, err := parseHash(s)
	return err
}

// VerifyPassword reports whether plain is the password hashed in hash. It
// costs the hash's iteration count of work; a malformed hash matches
// nothing.
func VerifyPassword(hash, plain string) bool {
	h, err := parseHash(hash)
	if err != nil || len(plain) > MaxPasswordLen {
		return false
	}
	key, err := pbkdf2.Key(sha256.New, plain, h.salt, h.iter, keyLen)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(key, h.key) == 1
}

// normalizePassword turns a console.password value as sent into the value
// to store: "" (no password) and valid hashes as they are, a plain
// password hashed with iter iterations.
func normalizePassword(v string, iter int) (string, error) {
	switch {
	case v == "":
		return "", nil
	case IsHash(v):
		if err := CheckHash(v); err != nil {
			return "", err
		}
		return v, nil
	default:
		return hashWith(v, iter)
	}
}

// HashPasswordValues hashes a plain console password in the values of a
// config.set ({"console.password":"..."} or {"console":{"password":...}}),
// in place, so the plain password is never saved. The agent calls it before
// config.With for MQTT commands; the console does it for its own. A value
// that already is a valid hash is kept (loaxactl hashes on the laptop);
// errors name the key and never quote the value.
func HashPasswordValues(values map[string]json.RawMessage) error {
	return hashPasswordValues(values, Iterations)
}

func hashPasswordValues(values map[string]json.RawMessage, iter int) error {
	if raw, ok := values["console.password"]; ok {
		out, err := hashRaw(raw, iter)
		if err != nil {
			return fmt.Errorf("key console.password: %w", err)
		}
		values["console.password"] = out
	}
	if raw, ok := values["console"]; ok {
		out, err := hashInTable(raw, iter)
		if err != nil {
			return err
		}
		values["console"] = out
	}
	return nil
}

// hashRaw hashes one JSON string value.
func hashRaw(raw json.RawMessage, iter int) (json.RawMessage, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, errors.New("must be a string")
	}
	h, err := normalizePassword(s, iter)
	if err != nil {
		return nil, err
	}
	return json.Marshal(h)
}

// hashInTable hashes "password" inside a [console] table given as a JSON
// object, keeping every other field byte for byte.
func hashInTable(raw json.RawMessage, iter int) (json.RawMessage, error) {
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return raw, nil
	}
	var table map[string]json.RawMessage
	if err := json.Unmarshal(raw, &table); err != nil {
		return nil, errors.New("key console: must be an object")
	}
	pw, ok := table["password"]
	if !ok {
		return raw, nil
	}
	out, err := hashRaw(pw, iter)
	if err != nil {
		return nil, fmt.Errorf("key console.password: %w", err)
	}
	table["password"] = out
	return json.Marshal(table)
}
