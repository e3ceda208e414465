package console

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// Line limits. A human line is what a person types; a JSON document (a line
// starting with '{', or `provision {...}`) may carry a whole configuration
// with certificates, and is bounded like an MQTT payload.
const (
	MaxHumanLine = 8 << 10
	MaxJSONLine  = 64 << 10
)

// lineKind tells what ended a line.
type lineKind int

const (
	lineOK        lineKind = iota
	lineTooLong            // longer than its limit: discarded
	lineNoise              // control bytes or invalid UTF-8: discarded
	lineInterrupt          // Ctrl-C: discarded, pending prompts cancelled
)

// line is one completed input line.
type line struct {
	kind lineKind
	text string // lineOK only
	size int    // bytes received, for the error message
	json bool   // started with '{'
}

// editor turns raw bytes from the port into lines, as a terminal's line
// discipline would: CR, LF and CRLF end a line, backspace and DEL erase,
// Ctrl-U kills the line, Ctrl-C cancels it, arrow keys and other escape
// sequences are ignored. It echoes what it keeps, so a technician on a
// plain terminal sees what they type, except JSON lines (tools do not want
// their input back, and a provisioning document carries secrets), hidden
// lines (a password prompt) and the rest of a line once it is recognisably
// a secret (`login PASSWORD`, `config set mqtt.password …`, `provision {…}`).
//
// Memory is bounded: a line beyond its limit is counted, not kept.
type editor struct {
	isSecret func(key string) bool

	buf    []byte
	size   int  // bytes of this line received, kept or not
	over   bool // beyond the limit: discarding to the end of the line
	json   bool // the line started with '{'
	noise  bool // a control byte was seen
	lastCR bool // the previous byte ended a line with CR
	esc    int  // escape-sequence state: 0 none, 1 after ESC, 2 in CSI, 3 after ESC O
	// hidden suppresses echo for the next line (set by the session for a
	// password prompt); secret suppresses it for the rest of this line.
	hidden bool
	secret bool
	echoed int // bytes of buf echoed, so backspace erases only those
}

func newEditor(isSecret func(string) bool) *editor {
	return &editor{isSecret: isSecret}
}

// hideNext makes the next line invisible (a password prompt).
func (e *editor) hideNext() { e.hidden = true }

// feed consumes p and returns the lines it completed and the echo to send.
func (e *editor) feed(p []byte) (lines []line, echo []byte) {
	for _, c := range p {
		if e.lastCR && c == '\n' {
			e.lastCR = false
			continue // the LF of a CRLF
		}
		e.lastCR = false
		if e.esc != 0 {
			if c >= 0x20 {
				e.escape(c)
				continue
			}
			// A control byte ends a broken escape sequence and counts
			// as itself: Ctrl-C after a stray ESC must still cancel.
			e.esc = 0
		}
		switch {
		case c == '\r' || c == '\n':
			e.lastCR = c == '\r'
			l := e.finish()
			if !l.json {
				// Even a hidden line ends visibly: the terminal needs the
				// new line.
				echo = append(echo, '\r', '\n')
			}
			lines = append(lines, l)
			e.reset()
		case c == 0x1b:
			e.esc = 1
		case c == 0x03: // Ctrl-C
			echo = append(echo, "^C\r\n"...)
			lines = append(lines, line{kind: lineInterrupt})
			e.reset()
		case c == 0x15: // Ctrl-U
			for range e.echoedRunes() {
				echo = append(echo, '\b', ' ', '\b')
			}
			hidden := e.hidden
			e.reset()
			e.hidden = hidden
		case c == 0x08 || c == 0x7f: // backspace, DEL
			echo = append(echo, e.backspace()...)
		case c == '\t':
			echo = append(echo, e.add(' ')...)
		case c == 0x04 || c == 0x11 || c == 0x13:
			// Ctrl-D, XON, XOFF: terminals send them; they mean nothing here.
		case c < 0x20:
			e.noise = true
			e.size++
		default:
			echo = append(echo, e.add(c)...)
		}
	}
	return lines, echo
}

// escape swallows an escape sequence (arrow keys, function keys).
func (e *editor) escape(c byte) {
	switch e.esc {
	case 1:
		switch c {
		case '[':
			e.esc = 2
		case 'O':
			e.esc = 3
		default:
			e.esc = 0
		}
	case 2:
		// Parameter and intermediate bytes (0x20-0x3f) continue the
		// sequence; a final byte or anything unexpected ends it.
		if c < 0x20 || c > 0x3f {
			e.esc = 0
		}
	default:
		e.esc = 0
	}
}

func (e *editor) limit() int {
	if e.json || bytes.HasPrefix(e.buf, []byte("provision ")) {
		return MaxJSONLine
	}
	return MaxHumanLine
}

func (e *editor) echoing() bool {
	// A line with noise in it is not echoed further: a loose cable would
	// otherwise have its garbage sent back at it.
	return !e.hidden && !e.secret && !e.over && !e.json && !e.noise
}

// add appends one byte and returns its echo.
func (e *editor) add(c byte) []byte {
	e.size++
	if e.over {
		return nil
	}
	if e.size == 1 && c == '{' {
		e.json = true
	}
	if len(e.buf) >= e.limit() {
		e.over = true
		e.buf = e.buf[:0]
		return nil
	}
	e.buf = append(e.buf, c)
	if !e.echoing() {
		return nil
	}
	e.echoed = len(e.buf)
	if c == ' ' && e.secretPrefix() {
		e.secret = true
	}
	return []byte{c}
}

// secretPrefix reports whether the line so far introduces a secret, so
// that what follows is not echoed.
func (e *editor) secretPrefix() bool {
	f := strings.Fields(string(e.buf))
	switch {
	case len(f) == 1 && (f[0] == "login" || f[0] == "provision"):
		// A provisioning document carries passwords and private keys.
		return true
	case len(f) == 3 && f[0] == "config" && f[1] == "set":
		return e.isSecret(f[2])
	case len(f) == 2 && f[0] == "config.set":
		return e.isSecret(f[1])
	}
	return false
}

// backspace erases the last character (a whole UTF-8 sequence).
func (e *editor) backspace() []byte {
	if e.over || len(e.buf) == 0 {
		return nil
	}
	_, n := utf8.DecodeLastRune(e.buf)
	e.buf = e.buf[:len(e.buf)-n]
	if e.echoed > len(e.buf) {
		e.echoed = len(e.buf)
		if e.secret && !e.secretPrefix() {
			e.secret = false
		}
		return []byte("\b \b")
	}
	return nil
}

func (e *editor) echoedRunes() []rune { return []rune(string(e.buf[:e.echoed])) }

func (e *editor) finish() line {
	l := line{size: e.size, json: e.json}
	switch {
	case e.over:
		l.kind = lineTooLong
	case e.noise || !utf8.Valid(e.buf):
		l.kind = lineNoise
	default:
		l.text = string(e.buf)
	}
	return l
}

func (e *editor) reset() {
	if cap(e.buf) > MaxHumanLine {
		e.buf = nil // a long JSON line's buffer is not kept for ever
	}
	e.buf = e.buf[:0]
	e.size, e.over, e.json, e.noise, e.secret, e.hidden, e.echoed = 0, false, false, false, false, false, 0
}
