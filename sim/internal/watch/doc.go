// Package watch tells a simulator when someone changed one of its control
// files, so that it can follow them without reading them over and over: a
// poll every 100 ms woke an idle agent ten times a second, which cost more
// CPU than the audio it played.
//
// A Watcher wakes its receiver on a change (a goroutine waits for the
// kernel's events); a Poller answers when asked, without a goroutine or a
// blocking call, for callers that read on their own schedule anyway.
//
// It uses Linux inotify. Where that is unavailable (another system, or the
// per-user limit of inotify instances reached) Dir returns an error and the
// caller polls as before.
package watch
