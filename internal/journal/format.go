package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
)

// The on-disk format, version 1 (all integers little-endian):
//
//	segment file NNNNNNNNNNNNNNNNNNNN.jnl, NNN… the first seq in 20 decimal digits
//	header (20 bytes):
//	  0  magic "LXJL"
//	  4  version uint16 (1)
//	  6  flags uint16 (0)
//	  8  first seq uint64 (equal to the name's)
//	  16 CRC-32C of bytes 0..16
//	records, back to back, the k-th (from 0) having seq first+k:
//	  0  payload length uint32
//	  4  CRC-32C of seq uint64 ‖ length uint32 ‖ payload
//	  8  payload
//
// The seq of a record is not stored but it is covered by its CRC: a record
// read at the wrong place (a stale copy, a shifted block) fails its check
// instead of being delivered under another number, and a run of zeros (what
// a file system may leave after a crash that extended a file) never checks.
const (
	magic         = "LXJL"
	formatVersion = 1
	headerSize    = 20
	recHeaderSize = 8
	segSuffix     = ".jnl"
	tmpPrefix     = ".tmp-"
	nameDigits    = 20
	maxFirstSeq   = 1 << 62

	// MaxRecordLimit is the largest record the format accepts, whatever
	// Options.MaxRecord says; a length field above it marks a damaged record.
	MaxRecordLimit = 16 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Sentinel errors; the errors returned wrap them with details.
var (
	// ErrFull means an Append would take the journal past Options.MaxBytes.
	// Nothing was written: the caller decides what to give up (the agent
	// stops taking commands rather than dropping answers).
	ErrFull = errors.New("journal: full")
	// ErrTooLarge means a record is above Options.MaxRecord, or a batch
	// could not fit in MaxBytes even in an empty journal.
	ErrTooLarge = errors.New("journal: record too large")
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("journal: closed")
	// ErrLocked means another Journal (in this process or another) has the
	// directory open: two writers would number records twice.
	ErrLocked = errors.New("journal: directory in use")
)

// segName is the file name of the segment whose first record is first.
func segName(first uint64) string {
	return fmt.Sprintf("%0*d%s", nameDigits, first, segSuffix)
}

// parseSegName returns the first seq a segment file name carries.
func parseSegName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, segSuffix)
	if !ok || len(digits) != nameDigits {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	// A name near the top of the range is not ours (it would take 4e18
	// records to get there) and would make seqs wrap around.
	return n, err == nil && n <= maxFirstSeq
}

// appendHeader appends a segment header for first to b.
func appendHeader(b []byte, first uint64) []byte {
	start := len(b)
	b = append(b, magic...)
	b = binary.LittleEndian.AppendUint16(b, formatVersion)
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint64(b, first)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}

// headerProblem says what is wrong with a segment header that should carry
// first, or "" when it is sound.
func headerProblem(h []byte, first uint64) string {
	switch {
	case len(h) < headerSize:
		return fmt.Sprintf("header is %d bytes, want %d", len(h), headerSize)
	case string(h[:4]) != magic:
		return fmt.Sprintf("magic %q, want %q", h[:4], magic)
	case binary.LittleEndian.Uint32(h[16:20]) != crc32.Checksum(h[:16], castagnoli):
		return "header checksum mismatch"
	case binary.LittleEndian.Uint16(h[4:6]) != formatVersion:
		return fmt.Sprintf("format version %d, this build reads %d", binary.LittleEndian.Uint16(h[4:6]), formatVersion)
	case binary.LittleEndian.Uint64(h[8:16]) != first:
		return fmt.Sprintf("header says first seq %d, file name says %d", binary.LittleEndian.Uint64(h[8:16]), first)
	}
	return ""
}

// recordCRC is the checksum stored with the record seq whose payload is p.
// scratch (12 bytes at least) holds seq and length while they are summed:
// the caller's, so that checking a record allocates nothing.
func recordCRC(scratch []byte, seq uint64, p []byte) uint32 {
	binary.LittleEndian.PutUint64(scratch[:8], seq)
	binary.LittleEndian.PutUint32(scratch[8:12], uint32(len(p)))
	return crc32.Update(crc32.Checksum(scratch[:12], castagnoli), castagnoli, p)
}

// appendRecord appends record seq with payload p to b.
func appendRecord(b []byte, seq uint64, p []byte) []byte {
	// The room of the record serves as scratch (12 bytes at least).
	start, n := len(b), recHeaderSize+len(p)
	b = append(b, make([]byte, max(n, 12))...)
	sum := recordCRC(b[start:], seq, p)
	binary.LittleEndian.PutUint32(b[start:], uint32(len(p)))
	binary.LittleEndian.PutUint32(b[start+4:], sum)
	copy(b[start+recHeaderSize:], p)
	return b[:start+n]
}

// recordSize is how many bytes a record with an n-byte payload takes.
func recordSize(n int) int64 { return recHeaderSize + int64(n) }
