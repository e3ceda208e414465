package stream

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"unicode"
	"unicode/utf8"
)

func TestParseTitle(t *testing.T) {
	for _, tc := range []struct {
		name, block, want string
		ok                bool
	}{
		{"icecast", "StreamTitle='Artist - Song';StreamUrl='';\x00\x00\x00", "Artist - Song", true},
		{"vietnamese utf-8", "StreamTitle='Thông báo khẩn: lũ quét';", "Thông báo khẩn: lũ quét", true},
		{"latin-1", "StreamTitle='Caf\xe9 \xe0 Hu\xe9';", "Café à Hué", true},
		{"apostrophe", "StreamTitle='Don't Stop';StreamUrl='x';", "Don't Stop", true},
		{"title not first", "StreamUrl='http://a/';StreamTitle='B';", "B", true},
		{"no semicolon", "StreamTitle='Tail'", "Tail", true},
		{"no closing quote", "StreamTitle='Cut off", "Cut off", true},
		{"empty title", "StreamTitle='';", "", true},
		{"control characters", "StreamTitle='a\r\nb\tc\x01';", "a  b c", true},
		{"lower-case key", "streamtitle='x';", "x", true},
		{"no title", "StreamUrl='http://a/';", "", false},
		{"garbage", "\xff\xfe\x00garbage", "", false},
		{"empty block", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseTitle([]byte(tc.block))
			if got != tc.want || ok != tc.ok {
				t.Errorf("parseTitle(%q) = %q, %v; want %q, %v", tc.block, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func FuzzParseTitle(f *testing.F) {
	f.Add([]byte("StreamTitle='Artist - Song';StreamUrl='';\x00\x00"))
	f.Add([]byte("StreamTitle='Caf\xe9';"))
	f.Add([]byte("StreamTitle='Tin tức';"))
	f.Add([]byte("='';='"))
	f.Fuzz(func(t *testing.T, block []byte) {
		title, ok := parseTitle(block)
		if !utf8.ValidString(title) {
			t.Fatalf("title %q is not valid UTF-8", title)
		}
		if strings.IndexFunc(title, unicode.IsControl) >= 0 {
			t.Fatalf("title %q has control characters", title)
		}
		if !ok && title != "" {
			t.Fatalf("no title found but %q returned", title)
		}
		// A well-formed block always yields its title.
		if v := string(block); utf8.ValidString(v) && !strings.Contains(v, "';") && strings.IndexFunc(v, unicode.IsControl) < 0 && strings.TrimSpace(v) == v {
			got, ok := parseTitle([]byte("StreamTitle='" + v + "';StreamUrl='';\x00\x00"))
			if !ok || got != v {
				t.Fatalf("title %q came back as %q, %v", v, got, ok)
			}
		}
	})
}

// FuzzICYReader checks that exactly the audio bytes come out of a body with
// metadata blocks, however the body's reads are cut.
func FuzzICYReader(f *testing.F) {
	f.Add([]byte("0123456789abcdefghij"), uint16(4), "StreamTitle='x';", uint8(0))
	f.Add(bytes.Repeat([]byte{0xff, 0xfb}, 100), uint16(7), "", uint8(1))
	f.Add([]byte("abc"), uint16(1), strings.Repeat("long", 200), uint8(2))
	f.Fuzz(func(t *testing.T, audio []byte, metaint uint16, meta string, cut uint8) {
		if metaint == 0 {
			return
		}
		if len(meta) > 255*16 {
			meta = meta[:255*16]
		}
		body := icyBody(audio, int(metaint), func(i int) string {
			if i%2 == 0 {
				return meta
			}
			return ""
		})
		var src io.Reader = bytes.NewReader(body)
		switch cut % 3 {
		case 1:
			src = iotest.OneByteReader(src)
		case 2:
			src = iotest.HalfReader(src)
		}
		var blocks int
		ir := newICYReader(src, int(metaint), func(b []byte) {
			blocks++
			if !bytes.HasPrefix(b, []byte(meta)) {
				t.Fatalf("metadata block %q does not start with %q", b, meta)
			}
		})
		got, err := io.ReadAll(ir)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, audio) {
			t.Fatalf("audio out differs from audio in (%d vs %d bytes)", len(got), len(audio))
		}
		if ir.metaN != int64(len(body)-len(audio)) {
			t.Fatalf("counted %d metadata bytes, body has %d", ir.metaN, len(body)-len(audio))
		}
	})
}

func TestICYReaderNeverLeaksATruncatedBlock(t *testing.T) {
	// The body ends inside a metadata block: none of it may reach the
	// decoder, and the end is an error, not a clean EOF.
	body := append([]byte("AUDIO"), 2)
	body = append(body, "StreamTitle='x"...)
	ir := newICYReader(bytes.NewReader(body), 5, func([]byte) { t.Error("a truncated block was parsed") })
	got, err := io.ReadAll(ir)
	if string(got) != "AUDIO" || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("read %q, %v; want AUDIO and io.ErrUnexpectedEOF", got, err)
	}
}

func TestParseContentRange(t *testing.T) {
	for _, tc := range []struct {
		in           string
		start, total int64
		ok           bool
	}{
		{"bytes 100-199/200", 100, 200, true},
		{"bytes 5-9/*", 5, -1, true},
		{"bytes */200", 0, 0, false},
		{"items 1-2/3", 0, 0, false},
		{"bytes -5-9/10", 0, 0, false},
		{"", 0, 0, false},
	} {
		start, total, ok := parseContentRange(tc.in)
		if start != tc.start || total != tc.total || ok != tc.ok {
			t.Errorf("parseContentRange(%q) = %d, %d, %v; want %d, %d, %v", tc.in, start, total, ok, tc.start, tc.total, tc.ok)
		}
	}
}
