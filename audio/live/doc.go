// Package live carries live audio from a studio to the poles: the frame
// format of loaxa/v1/live/{channel}, the Opus encoder a sender uses, and
// the receiving side, a jitter buffer per channel (Hub, Source) that turns
// frames arriving over a lossy 4G link into a steady PCM Source.
//
// # Frame format, version 1
//
// Frames are published on loaxa/v1/live/{channel} at QoS 0, not retained:
// a late frame is useless, so neither the broker nor the sender retries.
// Each MQTT message is one frame: a 24-byte header, big-endian, then the
// payload.
//
//	off size field
//	0   1    version = 1
//	1   1    codec: 1 = Opus, 2 = PCM signed 16-bit little-endian interleaved
//	2   1    channels: 1 or 2
//	3   1    flags: bit 0 = last frame of the talk (end of transmission);
//	         the other bits are 0
//	4   4    seq, uint32, +1 per frame, wraps from 2^32-1 to 0
//	8   8    capture time of the frame's first sample, µs since the Unix
//	         epoch, uint64 (at most 2^63-1)
//	16  4    sample rate in Hz, uint32
//	20  2    samples per channel in this frame, uint16
//	22  2    reserved, 0
//	24  ...  payload: one Opus packet, or the PCM samples
//
// A receiver refuses, and counts, any frame that breaks one of these rules:
//   - version is not 1, codec is not 1 or 2, channels is not 1 or 2, a flag
//     bit other than bit 0 is set, or the reserved bytes are not 0;
//   - samples per channel is 0, or the frame is longer than 120 ms
//     (samples × 1000 > rate × 120);
//   - Opus: the rate is not 8000, 12000, 16000, 24000 or 48000 (48000 is
//     recommended: it is the rate Opus works at inside); the payload is
//     empty or longer than 4000 bytes; or the duration in the packet's
//     table-of-contents byte (RFC 6716 section 3.1) is not the header's
//     samples per channel at the header's rate. The rate says at which
//     rate the header counts samples; any Opus decoder can decode the
//     packet at any rate. A sender uses 20 ms frames (960 samples at
//     48 kHz) unless it has reason not to.
//   - PCM: the rate is not within 8000–48000 Hz, or the payload is not
//     exactly samples × channels × 2 bytes.
//
// The capture time is the sender's clock. Plain play-out uses it only to
// measure latency, so the two clocks need not agree; synchronised play-out
// (OpenOptions.Delay) schedules by it, and needs them synchronised.
// Sequence numbers order the frames and reveal loss; a talk may start at
// any seq.
//
// # The receiving side
//
// The agent hands every message of loaxa/v1/live/+ to Hub.Deliver and
// opens a Source per channel it plays (Hub.Open). Frames of a channel no
// Source has open are counted and dropped. A Source is an audio.Source at
// the format the caller asks for; Opus is decoded straight to that rate
// when Opus supports it, else at 48 kHz and resampled.
//
// The sink paces the pipeline (its Write blocks for real time), so a Source
// never blocks: when audio is missing it returns concealment or silence, and
// its play-out clock is the reads themselves. Play-out:
//
//   - A Source returns silence until its buffer holds the target latency
//     (Options.Target, default 200 ms), the talk's last frame has arrived,
//     or the oldest buffered frame has waited the target; then it plays.
//   - Frames play in seq order (wraparound-safe). A frame that arrives
//     after its turn is late and dropped (counted Late, and Lost when its
//     turn passed); a frame that was already buffered or played is a
//     duplicate.
//   - A missing frame with later frames already buffered is lost and
//     concealed. Opus: with the next packet at hand its in-band FEC data
//     rebuilds the lost frame (libopus falls back to its packet-loss
//     concealment, PLC, when the packet has none); otherwise PLC
//     extrapolates from the previous frames. PCM: the first lost frame
//     repeats the previous frame under a linear fade to silence; further
//     consecutive lost frames are silence. A concealed frame lasts as long
//     as the last frame played.
//   - When the buffer runs dry while playing (no later frame either), that
//     is an underrun: one frame is concealed (Opus PLC fades out; PCM
//     repeats and fades), then silence plays while the buffer refills to the
//     target, and play resumes where it stopped, losing nothing.
//   - A buffer that grows past Options.MaxLatency (default twice the
//     target), because the network delivered a burst or nothing reads the
//     Source, drops its oldest frames back down to the target, so latency
//     stays bounded (counted Dropped).
//   - The frame flagged last ends the talk: the Source plays what is
//     buffered up to it, concealing gaps, then returns io.EOF. Frames after
//     it are ignored.
//   - A frame whose seq is more than MaxSeqJump away from the play-out
//     point, or whose codec, rate or channel count differs from the talk's,
//     starts a new talk (a sender that restarted): the buffer is emptied
//     and refills to the target (EventRestart).
//   - Nothing received for Options.SilenceAfter (default 3 s) raises
//     EventSilent; the next frame raises EventResumed. A Source does not
//     end on silence (a lost last frame looks the same): the agent decides.
//
// # Timed reads
//
// A player that writes to a sink reads a Source with ReadTimed (it is an
// audio.TimedSource), at the moment it writes, saying when the block will
// be heard; the Source is not read ahead. ReadTimed returns nothing until
// the talk's first frame plays (that silence is not the item's), and:
//
//   - Plain: a Source opened before its output was ready (OpenOptions.
//     Backlog: the pole's amplifier warming up) keeps what arrives
//     meanwhile, plays it late, and catches up by leaving out quiet frames
//     (RMS below −45 dBFS: pauses) while it holds more than the target.
//   - Synchronised (OpenOptions.Delay = D): the sample captured at T is
//     heard at T + D. The talk's timeline is the lower envelope of the
//     frames' capture times against their seq (a sender's timer wakes late,
//     never early), leaking later by at most 100 ppm to follow a slow
//     sender clock. Early, the Source waits in silence; late at the start,
//     it leaves out quiet frames, then skips within pauses (or drops
//     samples while there is none); on schedule it stays
//     within a sample by inserting or dropping single samples, at most four
//     per read, spread out; more than 5 ms off (an output stall) it jumps.
//     A frame missing at its time is concealed and, if it comes later,
//     dropped as late.
//
// Stats counts what happened; Latency is the time from a frame's capture
// timestamp to the moment its first sample is heard (ReadTimed) or leaves
// the Source's Read.
package live
