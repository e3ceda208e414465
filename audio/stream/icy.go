package stream

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxMetaInt bounds the icy-metaint a server may announce. Servers use
// 8192 or 16000; a huge value is a broken header, and trusting it would hand
// the metadata to the decoder as audio.
const maxMetaInt = 1 << 20

// icyReader removes ICY metadata blocks from a body: metaint bytes of
// audio, a length byte L, L×16 bytes of metadata, repeated. Only audio bytes
// come out of Read; each metadata block goes to onMeta.
type icyReader struct {
	r       io.Reader
	metaint int
	left    int // audio bytes before the next length byte
	meta    [255 * 16]byte
	onMeta  func(block []byte)
	metaN   int64 // metadata bytes removed, length bytes included
}

func newICYReader(r io.Reader, metaint int, onMeta func([]byte)) *icyReader {
	return &icyReader{r: r, metaint: metaint, left: metaint, onMeta: onMeta}
}

// Read returns audio bytes only. It never returns a byte of a metadata
// block, even when the body ends inside one (that is io.ErrUnexpectedEOF).
func (ir *icyReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for ir.left == 0 {
		var l [1]byte
		if _, err := io.ReadFull(ir.r, l[:]); err != nil {
			// A body that ends right at a block boundary ends cleanly.
			return 0, err
		}
		ir.metaN++
		n := int(l[0]) * 16
		if n > 0 {
			if _, err := io.ReadFull(ir.r, ir.meta[:n]); err != nil {
				if errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				return 0, fmt.Errorf("reading ICY metadata block of %d bytes: %w", n, err)
			}
			ir.metaN += int64(n)
			ir.onMeta(ir.meta[:n])
		}
		ir.left = ir.metaint
	}
	if len(p) > ir.left {
		p = p[:ir.left]
	}
	n, err := ir.r.Read(p)
	ir.left -= n
	return n, err
}

// parseTitle extracts StreamTitle from an ICY metadata block such as
// "StreamTitle='Artist - Song';StreamUrl='http://…';" and NUL padding. ok is
// false when the block has no StreamTitle. The title is cleaned for display
// and JSON: valid UTF-8 (Latin-1 is assumed when the bytes are not UTF-8),
// control characters turned into spaces, surrounding space trimmed.
//
// Values are delimited by "';" rather than by the next quote, because titles
// contain apostrophes ("Don't Stop") and servers do not escape them.
func parseTitle(block []byte) (title string, ok bool) {
	if i := bytes.IndexByte(block, 0); i >= 0 {
		block = block[:i]
	}
	for len(block) > 0 {
		eq := bytes.Index(block, []byte("='"))
		if eq < 0 {
			return "", false
		}
		name := bytes.TrimSpace(block[:eq])
		rest := block[eq+2:]
		var val []byte
		if end := bytes.Index(rest, []byte("';")); end >= 0 {
			val, block = rest[:end], rest[end+2:]
		} else {
			// The last field may lack its ';', or even its closing quote.
			val, block = bytes.TrimSuffix(bytes.TrimRight(rest, " \r\n"), []byte("'")), nil
		}
		if strings.EqualFold(string(name), "StreamTitle") {
			return cleanTitle(val), true
		}
	}
	return "", false
}

// cleanTitle decodes b as UTF-8, or as Latin-1 when it is not valid UTF-8,
// and replaces control characters with spaces.
func cleanTitle(b []byte) string {
	var s string
	if utf8.Valid(b) {
		s = string(b)
	} else {
		r := make([]rune, len(b))
		for i, c := range b {
			r[i] = rune(c) // Latin-1 is the first 256 code points
		}
		s = string(r)
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}
