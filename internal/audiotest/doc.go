// Package audiotest makes and inspects test audio for loaxa's tests, so
// that every package builds its fixtures the same way.
//
// MP3 and other encoded fixtures are made at test time by ffmpeg (and sox,
// where a test wants a second outside writer) rather than committed as
// binary files; a missing tool follows internal/testenv's policy: a
// failure under CI, a skip that says so elsewhere. ffmpeg's own sources are
// built with SineInput (ffmpeg's sine is at 1/8 of full scale, −21.07 dBFS
// RMS) and PinkInput:
//
//	mp3 := audiotest.Encode(t, "tone.mp3", append(audiotest.SineInput(2, 44100, 440, 660), "-b:a", "128k")...)
//	pcm := audiotest.Decode(t, "tone.mp3", mp3) // ffmpeg's decoding, the reference
//
// PCM is made in Go (Sine, SineAt, Tones) and written as a plain 16-bit
// WAV file (WAV, WriteWAV) by a writer independent of audio/wav, so that
// package's tests may use it as a reference too. What a sink played is
// checked with TrimSilence (drop the digital silence around it) and
// GoertzelPower (the power at one frequency); audio/dsp's Goertzel gives
// the amplitude instead.
//
// The package imports only audio and internal/testenv, so that the tests
// of every audio package (dsp, wav, mpg123 among them) can use it.
package audiotest
