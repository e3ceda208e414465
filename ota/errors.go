package ota

import "errors"

// Refusals of a manifest, one per reason, so the operator's tools can tell
// them apart (Code gives the short name carried in the ack's message).
var (
	ErrMalformed       = errors.New("malformed manifest")
	ErrBadSignature    = errors.New("bad signature")
	ErrUnknownKey      = errors.New("signed by an unknown key")
	ErrExpired         = errors.New("manifest expired")
	ErrNotYetValid     = errors.New("manifest not yet valid")
	ErrWrongArch       = errors.New("wrong architecture")
	ErrTooLarge        = errors.New("release too large")
	ErrBelowMinVersion = errors.New("running version below the release's min_version")
	ErrDowngrade       = errors.New("not newer than the running version")
	ErrReplay          = errors.New("not newer than a release already accepted")
)

// Failures of an accepted update, and refusals that are not about the
// manifest.
var (
	ErrHashMismatch   = errors.New("sha256 of the download does not match the manifest")
	ErrSizeMismatch   = errors.New("size of the download does not match the manifest")
	ErrDownload       = errors.New("download failed")
	ErrDiskFull       = errors.New("not enough disk space")
	ErrNoGap          = errors.New("no gap in the programme before switch_by")
	ErrSwitchRefused  = errors.New("the supervisor refused the switch")
	ErrBusy           = errors.New("an update is being switched to or on trial")
	ErrUnsupervised   = errors.New("the agent does not run under the supervisor")
	ErrClosed         = errors.New("the updater is not running")
	ErrStateCorrupted = errors.New("the update state document is unreadable")
)

var codes = []struct {
	err  error
	code string
	ack  string // the wire error code of an ack refusing the command
}{
	{ErrMalformed, "malformed", "bad_args"},
	{ErrBadSignature, "bad_signature", "bad_args"},
	{ErrUnknownKey, "unknown_key", "bad_args"},
	{ErrExpired, "expired", "bad_args"},
	{ErrNotYetValid, "not_yet_valid", "bad_args"},
	{ErrWrongArch, "wrong_arch", "bad_args"},
	{ErrTooLarge, "too_large", "bad_args"},
	{ErrBelowMinVersion, "below_min_version", "bad_args"},
	{ErrDowngrade, "downgrade", "bad_args"},
	{ErrReplay, "replay", "bad_args"},
	// Before ErrDownload, which often wraps them too.
	{ErrDiskFull, "disk_full", "internal"},
	{ErrHashMismatch, "hash_mismatch", "internal"},
	{ErrSizeMismatch, "size_mismatch", "internal"},
	{ErrDownload, "download_failed", "internal"},
	{ErrNoGap, "no_gap", "internal"},
	{ErrSwitchRefused, "switch_refused", "internal"},
	{ErrBusy, "busy", "busy"},
	{ErrUnsupervised, "unsupervised", "unsupported"},
	{ErrClosed, "closed", "internal"},
	{ErrLoop, "loop", "internal"},
	{ErrStateCorrupted, "state_corrupted", "internal"},
}

// Code is the short name of an OTA error ("unknown_key", "replay", ...):
// the first word of the ack's message and the "code" of ota.failed events.
// It is "internal" for an error that is none of this package's.
func Code(err error) string {
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return "internal"
}

// AckCode is the protocol-v1 error code for an ack that refuses an ota
// command with err: "bad_args" for a refused manifest, "busy" while an
// update is on trial, "unsupported" on a pole without the supervisor,
// "internal" otherwise.
func AckCode(err error) string {
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.ack
		}
	}
	return "internal"
}
