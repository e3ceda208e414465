// Package ota will hold loaxa's over-the-air updates: signed release
// manifests, A/B slots, trial boot with automatic rollback, resumable
// downloads. Today it holds only the version ordering that the update
// state machine will use to refuse downgrades (TUF's lesson: persist the
// highest version ever accepted). The agent answers the "ota" command with
// "unsupported" until the rest lands.
package ota
