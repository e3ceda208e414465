// Package dsp holds the signal processing between loaxa's sources and its
// sink: the volume curve and click-free gain ramps, level metering,
// sample-rate conversion and channel mixing. Everything works on
// interleaved int16 PCM described by an audio.Format.
//
// Volume: Gain maps the protocol's 0–100 volume onto a curve that is linear
// in decibels (RangeDB below full scale at level 1, mute at 0), because
// loudness is perceived logarithmically: equal steps of the volume control
// should sound like equal steps. A Gainer applies a gain to PCM and moves
// between gains along a short linear ramp, so a volume change or a fade
// never steps the waveform (a step is heard as a click on a horn speaker).
//
// Rates: Convert wraps a Source so that it produces another Format. Rate
// conversion uses a Kaiser-windowed sinc filter evaluated in polyphase form
// (see Resampler); it streams across buffer boundaries, never drops or
// repeats a sample, and keeps the output aligned in time with the input.
//
// Measuring: Level and Peak give dBFS for telemetry; Goertzel and MaxStep
// let tests check what came out of a sink (its frequency, its level, and
// that no sample jumped).
package dsp
