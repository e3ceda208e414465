// Package mpg123 decodes MP3 (and MPEG-1/2 Layer I and II) audio for the
// pole's audio engine with libmpg123, through a small cgo binding of its own.
//
// # Why libmpg123
//
// A pole decodes for hours a day on a Raspberry-Pi-class board in a cabinet
// that passes 40 °C, so decoding CPU is heat and throttling. Measured on one
// 600 s 128 kbit/s stereo MP3, libmpg123 (through the mpg123 command line)
// used 0.79× the CPU time of ffmpeg, while the pure-Go decoder
// github.com/hajimehoshi/go-mp3 used 13.6×. This binding stays near the C
// library: on a file of pink noise and a tone it takes 0.86–0.90× ffmpeg's
// CPU time (docs/benchmarks.md, "MP3 decode"; scripts/bench-mp3.sh
// reproduces it). Debian's armhf build of libmpg123 has only its generic C
// decoder; arm64 has NEON64, so poles should run a 64-bit OS.
//
// # Use
//
// Decoder is the streaming core, for input that arrives in chunks (an HTTP
// stream, a download in progress): Feed it compressed bytes, call Decode
// until it returns ErrNeedMore, feed again. Decode returns ErrNewFormat
// before the first samples and whenever the rate or channel count changes.
// Reader wraps a Decoder around an io.Reader for files and whole bodies.
// Output is always interleaved signed 16-bit samples at the stream's own
// rate and channel count; nothing is resampled.
//
// ID3v2 tags are skipped unread. Shoutcast/Icecast (ICY) metadata blocks
// must be removed before the bytes reach the decoder: libmpg123's feed mode
// does not strip them, and left in they are corrupt data.
//
// # Corrupt input
//
// libmpg123 checks frame headers and, on bad data, searches for the next
// valid frame without a limit, so a stream recovers after a burst of
// garbage. Random bytes sometimes pass for a frame header of another layer
// or rate: such a frame decodes to a short burst of noise, reported as a
// format change. A caller playing to public loudspeakers may want to treat a
// format change in the middle of a stream as suspect. Decode never panics on
// any input (FuzzDecode). libmpg123's Layer II decoder prints one message
// ("Truncating stereo boundary to sideband limit.") to stderr on some
// corrupt frames whatever the quiet flag says; it is harmless.
//
// # Memory
//
// A Decoder owns one libmpg123 handle and the compressed input fed to it
// but not yet decoded, all in C memory, which the Go garbage collector
// neither sees nor counts. Close frees it; after Close nothing of the
// Decoder remains in C. A Decoder dropped without Close is freed by a
// runtime cleanup when the collector finds it, but that may take long, so
// always Close. Feed copies its input into C memory, so its slice may be
// reused at once; Decode writes into the caller's slice only during the
// call. C never keeps a Go pointer. Strings from libmpg123 (error messages)
// are static and are copied into Go strings.
//
// # Goroutines and threads
//
// A Decoder or Reader is not safe for concurrent use: one goroutine feeds
// and decodes it. Nothing ties it to an OS thread, so that goroutine may
// move between threads between calls; libmpg123 keeps all state in the
// handle. Separate Decoders are independent and may run in parallel.
//
// # Library version
//
// The binding needs libmpg123 1.27 (API 46) or newer and refuses older
// headers at compile time; Debian 12 ships 1.31.2 (API 47), also in its
// arm64 and armhf builds. Before 1.27 a program had to call mpg123_init once
// before the first handle; since then it does nothing. Requiring 1.27 lets
// the package skip that call and the package-level "once" guard it would
// need, so the package has no global state.
package mpg123
