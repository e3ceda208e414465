// Package wav reads and writes WAV (RIFF WAVE) files: cached announcements
// in file:NAME, the simulated speaker's recording, and test fixtures.
//
// The Reader streams: it parses the header, skips chunks it does not need
// (LIST, fact, cue, …) and then converts the data chunk to int16 as it is
// read, whatever its encoding: 8-bit unsigned, 16-, 24- and 32-bit signed
// integer, 32- and 64-bit float, plain or WAVE_FORMAT_EXTENSIBLE, mono or
// stereo. Anything else is refused with an error wrapping ErrUnsupported;
// a file that is not a well-formed WAV gives an error wrapping ErrMalformed.
// A file cut short (a download interrupted, a recording whose writer died)
// plays to its last whole frame and ends with io.EOF.
//
// The Writer writes 16-bit PCM. On a seekable file it fixes up the RIFF and
// data sizes on Flush and Close; until then, and always on a stream, the
// sizes say "unknown" (0xFFFFFFFF), which readers, this one included, take
// as "read to the end".
package wav
