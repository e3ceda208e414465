// Package audio is loaxa's audio engine: the PCM types shared by sources
// (MP3 streams and files, WAV, test tones, live frames) and sinks
// (PortAudio, the simulated sink), and the processing between them.
//
// Everything inside the engine is interleaved signed 16-bit PCM described
// by a Format; conversions of rate and channel count happen in the
// pipeline, never by dropping samples. Sub-packages: guard (deadlines on
// the calls into an output device, which may wedge), mpg123 (the MP3
// decoder binding).
package audio
