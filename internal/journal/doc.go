// Package journal is the append-only on-disk log that everything which must
// survive a power cut uses: the agent's outbox of acks and events, its
// persisted state, its remembered command ids and the playback log (see
// agent/store.go). It is built for an SD card: small appends, one fsync per
// batch, no file ever rewritten, a bounded total.
//
// A Journal is a directory of segment files, each a header (magic, format
// version, first seq) followed by records (length, CRC-32C, payload; the
// exact layout is in format.go). Records are numbered by a seq that only
// grows: it lives in the segment names and headers, and the newest segment
// is never deleted, so a seq is not reused across restarts, trims, or
// damage (seqs that a lost record might have had are given up). Seqs can
// therefore have gaps; a consumer uses them to drop duplicates and to spot
// losses.
//
// Open recovers from a power cut without help: a partial or corrupt record
// at the end of the newest segment (a batch the power cut tore) is cut away;
// a damaged record in an older segment ends that segment's readable part and
// is reported, never repaired in place. Open fails only on I/O errors, never
// on content, and Stats tells what it dropped. Like tailscale's
// logtail/filch, the journal rotates bounded files instead of rewriting
// one; unlike it, a full journal refuses new records (ErrFull) instead of
// dropping old ones, because the records are answers the operator waits
// for.
//
// By default Append returns once its records are fsynced. In Deferred mode
// (Options.Deferred) Append only writes them, which a crash of the process
// does not lose, and Sync makes everything appended so far durable with one
// fsync, without holding the writers' lock: the agent appends from its
// owner goroutine, which must never wait for the disk, and its syncer
// goroutine calls Sync at most every 500 ms in a burst (group commit).
//
// Queue is a durable FIFO on top: Push, Pending, Ack in any order. Its
// exact delivery guarantee is in its documentation.
package journal
