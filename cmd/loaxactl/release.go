package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"
)

// Defaults of the release flags.
const (
	DefaultReleaseExpiry = 30 * 24 * time.Hour
	DefaultStageWait     = 30 * time.Minute
	DefaultDiscover      = 2 * time.Second
)

// releaseOptions are the flags of `loaxactl release ...`.
type releaseOptions struct {
	out         string
	signingKeys multiFlag
	version     string
	arch        string
	urls        multiFlag
	minVersion  string
	expires     string
	switchBy    string
	trial       time.Duration
	notes       string
	newKeys     multiFlag
	percent     string
	maxFailures int
	wait        time.Duration
	discover    time.Duration
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

func (r *releaseOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&r.out, "out", "", "release keygen: `PATH` prefix of the key files (PATH.key, PATH.pub); release sign: manifest file (default stdout)")
	fs.Var(&r.signingKeys, "signing-key", "release sign: private key `FILE` from release keygen (repeatable: each adds a signature)")
	fs.StringVar(&r.version, "version", "", "release sign: the release's version, vMAJOR.MINOR.PATCH")
	fs.StringVar(&r.arch, "arch", "", "release sign: the poles' architecture: arm64, armv7, armv6 or amd64")
	fs.Var(&r.urls, "url", "release sign: where poles download the binary (repeatable: tried in order)")
	fs.StringVar(&r.minVersion, "min-version", "", "release sign: the oldest version that may install this release")
	fs.StringVar(&r.expires, "expires", "", "release sign: when poles stop accepting the manifest: a duration from now or RFC 3339 (default 720h)")
	fs.StringVar(&r.switchBy, "switch-by", "", "release sign: the latest time a pole may restart into it (a duration from now or RFC 3339); default: wait for a gap however long")
	fs.DurationVar(&r.trial, "trial", 0, "release sign: how long the new version has to report healthy (default: the pole's ota.trial_s)")
	fs.StringVar(&r.notes, "notes", "", "release sign: release notes")
	fs.Var(&r.newKeys, "new-key", "release sign: public key `FILE` of the new trusted key list (repeatable; rotates the poles' keys)")
	fs.StringVar(&r.percent, "percent", "", "release publish --group: staged rollout, e.g. 10 or 5,25: first that share of the group, then the rest")
	fs.IntVar(&r.maxFailures, "max-failures", 0, "release publish --percent: stop when more poles of a stage fail")
	fs.DurationVar(&r.wait, "wait", DefaultStageWait, "release publish --percent: how long a stage's poles have to commit the release")
	fs.DurationVar(&r.discover, "discover", DefaultDiscover, "release publish --percent and release status: how long to collect the poles' retained state")
}

// release dispatches `release keygen|sign|publish|status`.
func (c *CLI) release(ctx context.Context, o *options, pos []string) int {
	if len(pos) == 0 {
		return c.usageError("release takes keygen, sign, publish or status")
	}
	switch sub, rest := pos[0], pos[1:]; sub {
	case "keygen":
		return c.releaseKeygen(o, rest)
	case "sign":
		return c.releaseSign(o, rest)
	case "publish":
		return c.releasePublish(ctx, o, rest)
	case "status":
		return c.releaseStatus(ctx, o, rest)
	default:
		return c.usageError("unknown release command %q: expected keygen, sign, publish or status", sub)
	}
}

// parseWhen reads a time as a duration from now or RFC 3339.
func (c *CLI) parseWhen(flagName, s string) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, fmt.Errorf("%s %s: must be in the future", flagName, s)
		}
		return c.Clock.Now().Add(d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q: expected a duration (720h) or an RFC 3339 time (2025-12-31T00:00:00+07:00)", flagName, s)
	}
	return t, nil
}
