package ota

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// golden compares got with testdata/NAME, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := "testdata/" + name
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s changed:\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

// docManifest is the example of docs/ota.md.
func docManifest() Manifest {
	min, _ := ParseVersion("v1.1.0")
	return Manifest{
		Format: 1, Version: Version{Major: 1, Minor: 3, Patch: 0}, Arch: "arm64", Size: 18234880,
		SHA256: "9f2c7e1b0d4a5c6e8f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70",
		URLs: []string{
			"https://updates.example.vn/loaxad/v1.3.0/loaxad-linux-arm64",
			"http://10.20.0.5/loaxad/v1.3.0/loaxad-linux-arm64?token=abc&x=1",
		},
		MinVersion: &min,
		Issued:     time.Date(2025, 11, 25, 10, 0, 0, 0, time.UTC),
		Expires:    time.Date(2025, 12, 25, 10, 0, 0, 0, time.UTC),
		SwitchBy:   time.Date(2025, 11, 27, 0, 0, 0, 0, time.UTC),
		Trial:      180 * time.Second,
		Notes:      "Sửa lỗi phát lại \"bản tin\" sau khi mất điện\nand a second line",
		Keys:       []PublicKey{testKey(2).Public(), testKey(3).Public()},
	}
}

// The signed bytes and the wire form are a contract with every signing
// tool: golden files.
func TestSignedBytesGolden(t *testing.T) {
	m := docManifest()
	golden(t, "signed_bytes.golden", m.SignedBytes())
	var pretty bytes.Buffer
	json.Indent(&pretty, signDoc(m, testKey(1)), "", "  ")
	golden(t, "manifest.golden.json", append(pretty.Bytes(), '\n'))
}

// A manifest re-encoded (pretty-printed, keys reordered, times in ms)
// still verifies: the signature covers values, not bytes.
func TestSignatureSurvivesReencoding(t *testing.T) {
	m := docManifest()
	raw := signDoc(m, testKey(1))
	var generic map[string]any
	json.Unmarshal(raw, &generic)
	man := generic["manifest"].(map[string]any)
	man["issued"] = m.Issued.UnixMilli()
	man["expires"] = m.Expires.UnixMilli()
	again, _ := json.MarshalIndent(generic, "", "\t") // Go sorts keys; escapes & as \u0026
	s, err := ParseSigned(again)
	if err != nil {
		t.Fatal(err)
	}
	if err := verifySignatures(s, []PublicKey{testKey(1).Public()}); err != nil {
		t.Errorf("re-encoded manifest: %v", err)
	}
	if s.Manifest.ID() != m.ID() {
		t.Errorf("ID changed with the encoding")
	}
}

func TestParseSignedRefusesMalformed(t *testing.T) {
	good := signDoc(docManifest(), testKey(1))
	edit := func(f func(man map[string]any, doc map[string]any)) string {
		var doc map[string]any
		json.Unmarshal(good, &doc)
		f(doc["manifest"].(map[string]any), doc)
		b, _ := json.Marshal(doc)
		return string(b)
	}
	tests := []struct {
		name, raw, want string
	}{
		{"not JSON", "ota please", "invalid character"},
		{"an array", "[]", "cannot unmarshal array"},
		{"trailing text", string(good) + " {}", "text after the manifest"},
		{"no manifest", `{"signatures":[{"keyid":"x","sig":"y"}]}`, `no "manifest"`},
		{"no signatures", edit(func(_, d map[string]any) { delete(d, "signatures") }), "expected 1 to 8 signatures, got 0"},
		{"unknown top field", edit(func(_, d map[string]any) { d["extra"] = 1 }), `unknown field "extra"`},
		{"unknown manifest field", edit(func(m, _ map[string]any) { m["reboot"] = true }), `unknown field "reboot"`},
		{"format 2", edit(func(m, _ map[string]any) { m["format"] = 2 }), "manifest format 2: this pole reads format 1"},
		{"bad version", edit(func(m, _ map[string]any) { m["version"] = "1.3" }), `version "1.3"`},
		{"version without v", edit(func(m, _ map[string]any) { m["version"] = "1.3.0" }), "expected vMAJOR.MINOR.PATCH"},
		{"bad arch", edit(func(m, _ map[string]any) { m["arch"] = "ARM 64" }), `arch "ARM 64"`},
		{"zero size", edit(func(m, _ map[string]any) { m["size"] = 0 }), "size 0"},
		{"short sha", edit(func(m, _ map[string]any) { m["sha256"] = "abcd" }), `sha256 "abcd"`},
		{"upper-case sha", edit(func(m, _ map[string]any) { m["sha256"] = strings.ToUpper(docManifest().SHA256) }), "lower-case hex"},
		{"no urls", edit(func(m, _ map[string]any) { m["urls"] = []string{} }), "expected 1 to 8 URLs, got 0"},
		{"ftp url", edit(func(m, _ map[string]any) { m["urls"] = []string{"ftp://h/x"} }), "expected an http:// or https:// URL"},
		{"url with newline", edit(func(m, _ map[string]any) { m["urls"] = []string{"http://h/x\nsize 1"} }), "control characters"},
		{"nine urls", edit(func(m, _ map[string]any) { m["urls"] = strings.Fields(strings.Repeat("http://h/x ", 9)) }), "expected 1 to 8 URLs, got 9"},
		{"bad min_version", edit(func(m, _ map[string]any) { m["min_version"] = "soon" }), "min_version"},
		{"no issued", edit(func(m, _ map[string]any) { delete(m, "issued") }), "issued and expires are required"},
		{"bad time", edit(func(m, _ map[string]any) { m["expires"] = "tomorrow" }), `time "tomorrow"`},
		{"expires before issued", edit(func(m, _ map[string]any) { m["expires"] = "2025-01-01T00:00:00Z" }), "must be after issued"},
		{"trial too short", edit(func(m, _ map[string]any) { m["trial_s"] = 2 }), "trial_s 2: expected 10 to 3600"},
		{"notes too long", edit(func(m, _ map[string]any) { m["notes"] = strings.Repeat("x", 5000) }), "at most 4096 bytes"},
		{"empty key list", edit(func(m, _ map[string]any) { m["keys"] = []string{} }), "would leave the pole trusting no key"},
		{"bad key", edit(func(m, _ map[string]any) { m["keys"] = []string{"nope"} }), "expected an ed25519 public key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSigned([]byte(tt.raw))
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.want) || Code(err) != "malformed" {
				t.Errorf("= %v (code %s); want ErrMalformed mentioning %q", err, Code(err), tt.want)
			}
		})
	}
}

func TestKeys(t *testing.T) {
	k := testKey(7)
	pub := k.Public()
	for _, form := range []string{pub.String(), " " + pub.String() + "\n", hexOf(pub)} {
		got, err := ParsePublicKey(form)
		if err != nil || !bytes.Equal(got, pub) {
			t.Errorf("ParsePublicKey(%q) = %x, %v", form, got, err)
		}
	}
	if _, err := ParsePublicKeys([]string{pub.String(), hexOf(pub)}); err == nil || !strings.Contains(err.Error(), "listed twice") {
		t.Errorf("a key listed twice: %v", err)
	}
	if len(pub.KeyID()) != KeyIDLen {
		t.Errorf("key id %q", pub.KeyID())
	}
	text := k.MarshalText()
	back, err := ParsePrivateKey(text)
	if err != nil || !bytes.Equal(back.Public(), pub) {
		t.Fatalf("private key round trip: %v", err)
	}
	if _, err := ParsePrivateKey([]byte(pub.String())); err == nil {
		t.Error("a public key was read as a private key")
	}
	if _, err := ParsePublicKey(string(text)); err == nil {
		t.Error("a private key file was read as a public key")
	}
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}
