package mpg123

import (
	"slices"
	"testing"
)

// FuzzDecode feeds arbitrary bytes in chunks of a fuzzed size and decodes
// into buffers of a fuzzed size. The decoder must never crash or hang, and
// must keep its contract: whole frames, sane formats, no samples before a
// format (feedAll checks them).
//
// It does not require the output to be the same whatever the chunk size:
// on corrupt input libmpg123's resync can depend on how much input it
// holds (testdata/fuzz/FuzzDecode/id3-lookalike decodes a frame in
// 56-byte chunks and none all at once). Valid files must not depend on it;
// TestChunkingDoesNotChangeOutput checks that.
func FuzzDecode(f *testing.F) {
	s := seed(f)
	f.Add(s, uint16(4096), uint16(4608))
	f.Add(s, uint16(0), uint16(0))
	f.Add(s[:len(s)/2], uint16(100), uint16(1000))
	f.Add(slices.Concat(s[:len(s)/2], randomBytes(500, 3), s), uint16(333), uint16(77))
	f.Add(randomBytes(2000, 4), uint16(17), uint16(4608))
	f.Add([]byte{}, uint16(0), uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, chunk, out uint16) {
		feedAll(t, data,
			func() int { return 1 + int(chunk)%8192 },
			func() int { return 2 + int(out)%8192 })
	})
}
