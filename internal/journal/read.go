package journal

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// recReader reads the records of one segment in order, checking each. It
// never allocates more than the bytes the file really has left, so a damaged
// length field cannot make it reserve 4 GiB.
type recReader struct {
	r      *bufio.Reader
	off    int64 // file offset of the next record
	limit  int64 // file offset past which nothing is trusted
	buf    []byte
	sum    [12]byte            // scratch for recordCRC
	hdr    [recHeaderSize]byte // the record header being read (a local would escape)
	ioErrs int                 // read errors met (damaged flash), counted apart from checksum failures
}

// next reads the record that should carry seq. It returns its payload (valid
// until the next call), or nil and the reason it cannot: "" at a clean end,
// otherwise what is wrong with the bytes found at r.off. A read error from
// the device counts as damage, not as a failure of the caller: a bad sector
// must not keep the journal from opening.
func (rr *recReader) next(seq uint64) ([]byte, string) {
	left := rr.limit - rr.off
	if left == 0 {
		return nil, ""
	}
	if left < recHeaderSize {
		return nil, fmt.Sprintf("%d stray bytes, shorter than a record header", left)
	}
	h := rr.hdr[:]
	if _, err := io.ReadFull(rr.r, h); err != nil {
		return nil, rr.readProblem(err)
	}
	n := binary.LittleEndian.Uint32(h[:4])
	switch {
	case n > MaxRecordLimit:
		return nil, fmt.Sprintf("length %d above the format's limit %d", n, MaxRecordLimit)
	case recordSize(int(n)) > left:
		return nil, fmt.Sprintf("record of %d bytes cut short at %d bytes", recordSize(int(n)), left)
	}
	if cap(rr.buf) < int(n) {
		rr.buf = make([]byte, n)
	}
	p := rr.buf[:n]
	if _, err := io.ReadFull(rr.r, p); err != nil {
		return nil, rr.readProblem(err)
	}
	if binary.LittleEndian.Uint32(h[4:]) != recordCRC(rr.sum[:], seq, p) {
		return nil, fmt.Sprintf("checksum mismatch for seq %d", seq)
	}
	rr.off += recordSize(int(n))
	return p, ""
}

func (rr *recReader) readProblem(err error) string {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		// The file shrank under us, or the size was wrong: same as a cut.
		return "file ends inside a record"
	}
	rr.ioErrs++
	return "read error: " + err.Error()
}
