package ota

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ManifestFormat is the only manifest format this package reads and
// writes. A manifest that needs more fields gets format 2; poles that do
// not know it refuse it as malformed rather than ignore what it says.
const ManifestFormat = 1

// Limits on a manifest, so that a hostile one cannot grow a pole's memory
// or its state file.
const (
	MaxURLs       = 8
	MaxURLLen     = 2048
	MaxNotesLen   = 4096
	MaxNewKeys    = 8
	MaxSignatures = 8
	MinTrial      = 10 * time.Second
	MaxTrial      = time.Hour
)

// Manifest is a release: what to download, for which pole, until when.
// Its signed form is SignedBytes; see docs/ota.md.
type Manifest struct {
	// Format is ManifestFormat.
	Format int
	// Version is the release's version, vMAJOR.MINOR.PATCH[-PRE].
	Version Version
	// Arch is the pole architecture the binary is built for, as Arch()
	// reports it: "arm64", "armv7", "armv6", "amd64", ...
	Arch string
	// Size is the binary's size in bytes; SHA256 its lower-case hex digest.
	Size   int64
	SHA256 string
	// URLs are tried in order, each with resume.
	URLs []string
	// MinVersion, when set, is the oldest version that may install this
	// release (a release that migrates state from a known version).
	MinVersion *Version
	// Issued and Expires bound when a pole accepts the manifest (TUF's
	// freeze protection); both have millisecond precision.
	Issued, Expires time.Time
	// SwitchBy, when set, is the latest time the pole may restart into the
	// new version; a pole that finds no gap in its programme by then gives
	// up (state failed, code no_gap). Zero: wait for a gap however long.
	SwitchBy time.Time
	// Trial, when set, replaces the pole's ota.trial_s: how long the new
	// version has to report healthy.
	Trial time.Duration
	// Notes are for people.
	Notes string
	// Keys, when set, is the new list of trusted signing keys. A pole
	// adopts it once the manifest verifies with a key it already trusts.
	Keys []PublicKey
}

// Signature is one signature of a manifest.
type Signature struct {
	// KeyID names the key (PublicKey.KeyID); it is only a hint.
	KeyID string `json:"keyid"`
	// Sig is the standard base64 of the 64-byte ed25519 signature of
	// the manifest's SignedBytes.
	Sig string `json:"sig"`
}

// Signed is the document carried by the ota command: the manifest and its
// signatures.
type Signed struct {
	Manifest   Manifest    `json:"manifest"`
	Signatures []Signature `json:"signatures"`
}

// manifestJSON is the wire form of Manifest.
type manifestJSON struct {
	Format     int       `json:"format"`
	Version    string    `json:"version"`
	Arch       string    `json:"arch"`
	Size       int64     `json:"size"`
	SHA256     string    `json:"sha256"`
	URLs       []string  `json:"urls"`
	MinVersion string    `json:"min_version,omitempty"`
	Issued     timestamp `json:"issued"`
	Expires    timestamp `json:"expires"`
	SwitchBy   timestamp `json:"switch_by,omitzero"`
	TrialS     int       `json:"trial_s,omitempty"`
	Notes      string    `json:"notes,omitempty"`
	Keys       []string  `json:"keys,omitempty"`
}

// timestamp reads RFC 3339 text or milliseconds since the epoch, and
// writes RFC 3339 in UTC with milliseconds.
type timestamp struct{ t time.Time }

func (ts timestamp) IsZero() bool { return ts.t.IsZero() }

func (ts timestamp) MarshalJSON() ([]byte, error) {
	return json.Marshal(ts.t.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
}

func (ts *timestamp) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return fmt.Errorf("time %q: expected RFC 3339 (2025-11-25T10:00:00Z) or milliseconds since the epoch", s)
		}
		ts.t = time.UnixMilli(t.UnixMilli())
		return nil
	}
	ms, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || ms <= 0 {
		return fmt.Errorf("time %s: expected RFC 3339 text or positive milliseconds since the epoch", shortText(string(b), 30))
	}
	ts.t = time.UnixMilli(ms)
	return nil
}

var (
	archRE  = regexp.MustCompile(`^[a-z0-9]{1,16}$`)
	sha256R = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// MarshalJSON writes the manifest's wire form.
func (m Manifest) MarshalJSON() ([]byte, error) {
	j := manifestJSON{
		Format: m.Format, Version: m.Version.String(), Arch: m.Arch, Size: m.Size,
		SHA256: m.SHA256, URLs: m.URLs, Issued: timestamp{m.Issued}, Expires: timestamp{m.Expires},
		SwitchBy: timestamp{m.SwitchBy}, TrialS: int(m.Trial / time.Second), Notes: m.Notes,
	}
	if m.MinVersion != nil {
		j.MinVersion = m.MinVersion.String()
	}
	for _, k := range m.Keys {
		j.Keys = append(j.Keys, k.String())
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // URLs with & stay readable
	if err := enc.Encode(j); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// UnmarshalJSON reads the wire form strictly: unknown fields are refused,
// since a field this pole cannot read is a field it cannot have verified.
func (m *Manifest) UnmarshalJSON(b []byte) error {
	var j manifestJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	out, err := j.check()
	if err != nil {
		return err
	}
	*m = *out
	return nil
}

// check validates every field and builds the Manifest.
func (j *manifestJSON) check() (*Manifest, error) {
	m := &Manifest{Format: j.Format, Arch: j.Arch, Size: j.Size, SHA256: j.SHA256, Notes: j.Notes}
	if j.Format != ManifestFormat {
		return nil, fmt.Errorf("manifest format %d: this pole reads format %d", j.Format, ManifestFormat)
	}
	v, err := ParseVersion(j.Version)
	if err != nil || !strings.HasPrefix(j.Version, "v") {
		return nil, fmt.Errorf("version %q: expected vMAJOR.MINOR.PATCH", j.Version)
	}
	m.Version = v
	if !archRE.MatchString(j.Arch) {
		return nil, fmt.Errorf("arch %q: expected a name such as arm64, armv7 or amd64", shortText(j.Arch, 20))
	}
	if j.Size <= 0 {
		return nil, fmt.Errorf("size %d: expected the binary's size in bytes", j.Size)
	}
	if !sha256R.MatchString(j.SHA256) {
		return nil, fmt.Errorf("sha256 %q: expected 64 lower-case hex digits", shortText(j.SHA256, 20))
	}
	if len(j.URLs) == 0 || len(j.URLs) > MaxURLs {
		return nil, fmt.Errorf("urls: expected 1 to %d URLs, got %d", MaxURLs, len(j.URLs))
	}
	for _, u := range j.URLs {
		if err := checkURL(u); err != nil {
			return nil, err
		}
	}
	m.URLs = append([]string(nil), j.URLs...)
	if j.MinVersion != "" {
		mv, err := ParseVersion(j.MinVersion)
		if err != nil {
			return nil, fmt.Errorf("min_version: %w", err)
		}
		m.MinVersion = &mv
	}
	m.Issued, m.Expires, m.SwitchBy = j.Issued.t, j.Expires.t, j.SwitchBy.t
	if m.Issued.IsZero() || m.Expires.IsZero() {
		return nil, fmt.Errorf("issued and expires are required")
	}
	if !m.Expires.After(m.Issued) {
		return nil, fmt.Errorf("expires (%s) must be after issued (%s)", fmtTime(m.Expires), fmtTime(m.Issued))
	}
	if !m.SwitchBy.IsZero() && !m.SwitchBy.After(m.Issued) {
		return nil, fmt.Errorf("switch_by (%s) must be after issued (%s)", fmtTime(m.SwitchBy), fmtTime(m.Issued))
	}
	if j.TrialS != 0 {
		m.Trial = time.Duration(j.TrialS) * time.Second
		if m.Trial < MinTrial || m.Trial > MaxTrial {
			return nil, fmt.Errorf("trial_s %d: expected %d to %d seconds", j.TrialS, int(MinTrial/time.Second), int(MaxTrial/time.Second))
		}
	}
	if len(j.Notes) > MaxNotesLen || !utf8.ValidString(j.Notes) {
		return nil, fmt.Errorf("notes: expected at most %d bytes of UTF-8 text", MaxNotesLen)
	}
	if len(j.Keys) > MaxNewKeys {
		return nil, fmt.Errorf("keys: at most %d keys, got %d", MaxNewKeys, len(j.Keys))
	}
	if j.Keys != nil {
		keys, err := ParsePublicKeys(j.Keys)
		if err != nil {
			return nil, fmt.Errorf("keys: %w", err)
		}
		if len(keys) == 0 {
			return nil, fmt.Errorf("keys: an empty list would leave the pole trusting no key; leave \"keys\" out to keep the current ones")
		}
		m.Keys = keys
	}
	return m, nil
}

func checkURL(s string) error {
	if len(s) > MaxURLLen {
		return fmt.Errorf("url of %d bytes: at most %d", len(s), MaxURLLen)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("url %q: control characters are not allowed", shortText(s, 60))
		}
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("url %q: expected an http:// or https:// URL", shortText(s, 60))
	}
	return nil
}

// signedMagic opens the signed bytes: a signature over a loaxa manifest
// can never be taken for a signature over anything else.
const signedMagic = "loaxa-ota-manifest-v1"

// SignedBytes is the canonical byte form that signatures cover. It does not
// depend on how the JSON was written (key order, spaces, escapes, RFC 3339
// or milliseconds), so a manifest may be re-encoded without breaking its
// signatures. One line per field, "NAME VALUE\n", in this order:
//
//	loaxa-ota-manifest-v1
//	format 1
//	version "v1.3.0"
//	arch "arm64"
//	size 18234880
//	sha256 "<64 hex digits>"
//	url "<url>"              one line per URL, in order
//	min_version "<v…>"        "" when none
//	issued <ms since epoch>
//	expires <ms since epoch>
//	switch_by <ms>            0 when none
//	trial_s <seconds>         0 when none
//	notes "<text>"
//	key "<base64>"           one line per new key, in order; none when none
//
// Strings are quoted: '"' and '\' are escaped with a backslash, bytes below
// 0x20 are written \u00XX (lower-case hex), everything else is the UTF-8
// text as is.
func (m *Manifest) SignedBytes() []byte {
	var b bytes.Buffer
	b.WriteString(signedMagic + "\n")
	fmt.Fprintf(&b, "format %d\n", m.Format)
	line := func(name, val string) { b.WriteString(name + " " + canonQuote(val) + "\n") }
	line("version", m.Version.String())
	line("arch", m.Arch)
	fmt.Fprintf(&b, "size %d\n", m.Size)
	line("sha256", m.SHA256)
	for _, u := range m.URLs {
		line("url", u)
	}
	minV := ""
	if m.MinVersion != nil {
		minV = m.MinVersion.String()
	}
	line("min_version", minV)
	fmt.Fprintf(&b, "issued %d\n", m.Issued.UnixMilli())
	fmt.Fprintf(&b, "expires %d\n", m.Expires.UnixMilli())
	var sb int64
	if !m.SwitchBy.IsZero() {
		sb = m.SwitchBy.UnixMilli()
	}
	fmt.Fprintf(&b, "switch_by %d\n", sb)
	fmt.Fprintf(&b, "trial_s %d\n", int64(m.Trial/time.Second))
	line("notes", m.Notes)
	for _, k := range m.Keys {
		line("key", k.String())
	}
	return b.Bytes()
}

// ID identifies a release independently of its encoding and signatures:
// the hex SHA-256 of its SignedBytes.
func (m *Manifest) ID() string {
	sum := sha256.Sum256(m.SignedBytes())
	return hex.EncodeToString(sum[:])
}

func canonQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20:
			fmt.Fprintf(&b, `\u%04x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// ParseSigned reads the signed manifest document (the args of the ota
// command). Every error wraps ErrMalformed.
func ParseSigned(raw []byte) (*Signed, error) {
	var s Signed
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: text after the manifest document", ErrMalformed)
	}
	if s.Manifest.Format == 0 {
		return nil, fmt.Errorf("%w: no \"manifest\"", ErrMalformed)
	}
	if len(s.Signatures) == 0 || len(s.Signatures) > MaxSignatures {
		return nil, fmt.Errorf("%w: expected 1 to %d signatures, got %d", ErrMalformed, MaxSignatures, len(s.Signatures))
	}
	return &s, nil
}

// Marshal writes the signed document compactly, as loaxactl publishes it.
func (s *Signed) Marshal() []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)              // json.Marshal would write & in URLs as \u0026
	if err := enc.Encode(s); err != nil { // cannot happen: every field marshals
		panic(err)
	}
	return bytes.TrimRight(b.Bytes(), "\n")
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }
