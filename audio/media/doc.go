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
package media
