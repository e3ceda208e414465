// Package ota is the pole's side of over-the-air updates: signed release
// manifests, their verification, and the Updater that downloads a release
// into the inactive slot and asks for the switch. Its companion
// ota/supervisor runs the slots, tries a new version on trial, commits it
// or rolls it back.
//
// A release is a Manifest (version, arch, size, SHA-256, URLs, validity)
// signed with ed25519 over its SignedBytes, a canonical form independent
// of the JSON's spelling. Verify refuses, each with its own error (Code
// names it for the ack): malformed, bad_signature, unknown_key,
// not_yet_valid, expired, wrong_arch, too_large, below_min_version,
// downgrade, replay. The highest version ever accepted is persisted, so
// no older manifest is accepted again (TUF's rollback protection), and
// manifests expire (its freeze protection). Trusted keys come from the
// configuration (ota.keys) and may be rotated by a signed release.
//
// The Updater is a state machine (idle → verified → downloading →
// downloaded → installed → switching → trial → committed | rolled_back,
// or failed): one type per state whose handler returns the next state and
// the effects, every transition persisted through a Store before it is
// acted on, so a power cut anywhere resumes where it stopped. Downloads
// resume with HTTP Range across link drops and restarts. The switch waits
// for a gap in the programme (SetBusy). docs/ota.md draws the whole
// picture and says what a power cut does in each state.
package ota
