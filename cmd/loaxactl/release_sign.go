package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/loaxa/loaxa/ota"
)

// releaseSign handles `release sign [flags] BINARY`: it computes the
// binary's size and SHA-256 and writes the signed manifest.
func (c *CLI) releaseSign(o *options, pos []string) int {
	r := &o.release
	if len(pos) != 1 {
		return c.usageError("release sign takes the BINARY to release, got %d argument(s)", len(pos))
	}
	m, keys, code := c.buildManifest(r)
	if code != ExitOK {
		return code
	}
	bin := pos[0]
	size, sum, err := ota.HashFile(bin)
	if err != nil {
		return c.usageError("%v", err)
	}
	if err := ota.CheckELF(bin, m.Arch); err != nil {
		return c.usageError("%s: %v; check --arch", bin, err)
	}
	m.Size, m.SHA256 = size, sum
	s := ota.Signed{Manifest: *m}
	for _, k := range keys {
		s.Signatures = append(s.Signatures, k.Sign(m))
	}
	doc := s.Marshal()
	// What poles will read: the same checks, so a bad manifest is caught
	// here and not on a thousand poles.
	if _, err := ota.ParseSigned(doc); err != nil {
		return c.usageError("%v", err)
	}
	if len(doc) > 60<<10 {
		return c.usageError("the manifest is %d bytes; with its command it must fit in 64 KiB (shorten --notes)", len(doc))
	}
	out := append(doc, '\n')
	if r.out == "" {
		c.Stdout.Write(out)
	} else if err := os.WriteFile(r.out, out, 0o644); err != nil {
		fmt.Fprintf(c.Stderr, "loaxactl: %v\n", err)
		return ExitFailed
	}
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.Public().KeyID()
	}
	fmt.Fprintf(c.Stderr, "signed %s for %s: %d bytes, sha256 %s, key(s) %s, expires %s\n",
		m.Version, m.Arch, size, sum, strings.Join(ids, ","), m.Expires.UTC().Format(time.RFC3339))
	return ExitOK
}

// buildManifest checks the sign flags and builds the manifest without
// the binary's size and hash.
func (c *CLI) buildManifest(r *releaseOptions) (*ota.Manifest, []*ota.PrivateKey, int) {
	fail := func(format string, a ...any) (*ota.Manifest, []*ota.PrivateKey, int) {
		return nil, nil, c.usageError(format, a...)
	}
	if len(r.signingKeys) == 0 {
		return fail("release sign needs --signing-key FILE (from release keygen)")
	}
	var keys []*ota.PrivateKey
	for _, f := range r.signingKeys {
		b, err := os.ReadFile(f)
		if err != nil {
			return fail("--signing-key: %v", err)
		}
		k, err := ota.ParsePrivateKey(b)
		if err != nil {
			return fail("--signing-key %s: %v", f, err)
		}
		keys = append(keys, k)
	}
	v, err := ota.ParseVersion(r.version)
	if err != nil || !strings.HasPrefix(r.version, "v") {
		return fail("--version %q: expected vMAJOR.MINOR.PATCH, e.g. v1.3.0", r.version)
	}
	if r.arch == "" {
		return fail("release sign needs --arch: arm64, armv7, armv6 or amd64 (what the poles report as ota.arch)")
	}
	if len(r.urls) == 0 {
		return fail("release sign needs at least one --url where the poles download the binary")
	}
	now := c.Clock.Now()
	m := &ota.Manifest{Format: ota.ManifestFormat, Version: v, Arch: r.arch, URLs: r.urls, Notes: r.notes,
		Issued: time.UnixMilli(now.UnixMilli()), Expires: time.UnixMilli(now.Add(DefaultReleaseExpiry).UnixMilli()), Trial: r.trial}
	if r.minVersion != "" {
		mv, err := ota.ParseVersion(r.minVersion)
		if err != nil {
			return fail("--min-version: %v", err)
		}
		m.MinVersion = &mv
	}
	if r.expires != "" {
		t, err := c.parseWhen("--expires", r.expires)
		if err != nil {
			return fail("%v", err)
		}
		m.Expires = time.UnixMilli(t.UnixMilli())
	}
	if r.switchBy != "" {
		t, err := c.parseWhen("--switch-by", r.switchBy)
		if err != nil {
			return fail("%v", err)
		}
		m.SwitchBy = time.UnixMilli(t.UnixMilli())
	}
	for _, f := range r.newKeys {
		b, err := os.ReadFile(f)
		if err != nil {
			return fail("--new-key: %v", err)
		}
		k, err := ota.ParsePublicKey(string(b))
		if err != nil {
			return fail("--new-key %s: %v", f, err)
		}
		m.Keys = append(m.Keys, k)
	}
	return m, keys, ExitOK
}
