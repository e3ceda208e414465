// Package watch tells a simulator when someone changed one of its control
// files, so that it can follow them without reading them over and over: a
// poll every 100 ms woke an idle agent ten times a second, which cost more
// CPU than the audio it played.
//
// It uses Linux inotify. Where that is unavailable (another system, or the
// per-user limit of inotify instances reached) Dir returns an error and the
// caller polls as before.
package watch
