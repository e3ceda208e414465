// Package media is the pole's local media cache: the MP3 and WAV files
// that file:NAME play sources name, kept in one directory (by default
// DATA_DIR/media).
//
// Names are plain file names, checked by ValidName before any file is
// touched: 1 to 128 characters from A–Z a–z 0–9 . _ -, not starting with a
// dot (hidden and temporary files, such as a download in progress, are
// not media), and never containing "..". A name cannot reach outside the
// directory.
//
// Open tells MP3 from WAV by the file's first bytes (a RIFF/WAVE header;
// an ID3v2 tag or an MPEG frame sync), not by the name's extension, and
// returns an audio.Source that is a *File. Resuming an interrupted file:
// keeping the File open and reading on later costs nothing; after a
// restart, File.Seek moves to a frame. A WAV file seeks directly; an MP3
// file decodes and discards up to the frame: exact, because MP3 frames
// depend on the frames before them, and as fast as libmpg123 decodes,
// about 1 to 2 ms per second of audio skipped on the amd64 build machine
// (BenchmarkSeekFrameMP3; docs/benchmarks.md, "Streams"), so under a
// second for a 10-minute bulletin there and, presumably, several seconds
// on a Raspberry Pi (not measured).
//
// List reports the cache's files with their sizes and modification times.
//
// # Fetching
//
// A Fetcher fills the cache over HTTP(S): Fetch(url, sha256, name) returns
// at once and the outcome comes as an event (media.fetched, media.failed
// with a reason). A download lives in DIR/.partial (never media: a hidden
// directory) with a small progress record; every CheckpointBytes the
// partial file is synced and then the record rewritten, so after a dropped
// link, a restart or a power cut the download continues with an HTTP Range
// request from the last synced byte. When the file is whole it is hashed
// from the disk and, only if the SHA-256 matches, renamed into place: an
// atomic rename, so file:NAME sees the old file or the verified new one,
// never a part. Everything an input can grow is bounded: file size,
// downloads at once and waiting, header size, redirects (http and https
// only), and the byte rate (a server that trickles is cut and retried).
//
// The cache keeps a quota: past it, the files used least recently go
// first, never one the schedule pins. Prefetch takes the schedule's needs
// within media.lead_h; Air tells the agent what to play when a file is
// missing at air time (the item's URL, a stored fallback, or silence).
package media
