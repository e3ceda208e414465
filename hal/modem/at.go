package modem

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// DefaultMaxLine bounds one line from the modem. Real answers are well
// under 200 bytes; a longer line is noise (a modem answering garbage, a
// wrong baud rate) and is dropped whole.
const DefaultMaxLine = 1024

// maxResponseLines bounds the information lines kept for one command.
const maxResponseLines = 64

// Final is a final result code: how a command ended.
type Final struct {
	// Kind is "OK", "ERROR", "+CME ERROR", "+CMS ERROR", "NO CARRIER",
	// "NO ANSWER", "BUSY", "NO DIALTONE", "CONNECT" or "ABORTED".
	Kind string
	// Code is the numeric code of a +CME/+CMS ERROR, or -1.
	Code int
	// Text is the text of a verbose +CME/+CMS ERROR (AT+CMEE=2), or what
	// follows CONNECT.
	Text string
}

// OK reports whether the command succeeded.
func (f Final) OK() bool { return f.Kind == "OK" || f.Kind == "CONNECT" }

// String renders the code as the modem sent it.
func (f Final) String() string {
	switch {
	case f.Code >= 0:
		return fmt.Sprintf("%s: %d", f.Kind, f.Code)
	case f.Text != "" && f.Kind == "CONNECT":
		return f.Kind + " " + f.Text
	case f.Text != "":
		return f.Kind + ": " + f.Text
	}
	return f.Kind
}

// Response is what a command got back: its information lines (echo, empty
// lines and unsolicited result codes removed) and the final result code.
type Response struct {
	Lines []string
	Final Final
	// Truncated is set when more than maxResponseLines lines came back and
	// the extra ones were dropped.
	Truncated bool
}

// Prefixed returns the payload of the first line starting with prefix
// (e.g. "+CSQ:"), with the prefix and the spaces after it removed.
func (r *Response) Prefixed(prefix string) (string, bool) {
	for _, l := range r.Lines {
		if rest, ok := cutPrefixFold(l, prefix); ok {
			return strings.TrimSpace(rest), true
		}
	}
	return "", false
}

func (r *Response) hasPrefixed(prefix string) bool {
	_, ok := r.Prefixed(prefix)
	return ok
}

// AllPrefixed returns the payloads of every line starting with prefix.
func (r *Response) AllPrefixed(prefix string) []string {
	var out []string
	for _, l := range r.Lines {
		if rest, ok := cutPrefixFold(l, prefix); ok {
			out = append(out, strings.TrimSpace(rest))
		}
	}
	return out
}

// ParseFinal reports whether line is a final result code, and which. It
// knows the codes of ITU-T V.250 and 3GPP TS 27.007/27.005 in their verbose
// form (ATV1, what every modem uses by default).
func ParseFinal(line string) (Final, bool) {
	l := strings.TrimSpace(line)
	switch l {
	case "OK", "ERROR", "NO CARRIER", "NO ANSWER", "BUSY", "NO DIALTONE", "ABORTED":
		return Final{Kind: l, Code: -1}, true
	}
	for _, kind := range []string{"+CME ERROR", "+CMS ERROR"} {
		rest, ok := cutPrefixFold(l, kind+":")
		if !ok {
			continue
		}
		rest = strings.TrimSpace(rest)
		if n, err := strconv.Atoi(rest); err == nil && n >= 0 {
			return Final{Kind: kind, Code: n}, true
		}
		return Final{Kind: kind, Code: -1, Text: rest}, true
	}
	if l == "CONNECT" {
		return Final{Kind: "CONNECT", Code: -1}, true
	}
	if rest, ok := strings.CutPrefix(l, "CONNECT "); ok {
		return Final{Kind: "CONNECT", Code: -1, Text: strings.TrimSpace(rest)}, true
	}
	return Final{}, false
}

// ErrTimeout is wrapped by the error of a command the modem did not finish
// answering in time. It is transient: the modem may be busy or resetting.
var ErrTimeout = errors.New("modem did not answer in time")

// ErrClosed is wrapped by errors from a client whose port was closed or
// failed (the modem left the USB bus, or Close was called).
var ErrClosed = errors.New("modem port closed")

// CommandError is a command the modem refused: ERROR, +CME ERROR and the
// like.
type CommandError struct {
	Cmd   string
	Final Final
}

func (e *CommandError) Error() string {
	msg := e.Final.String()
	if e.Final.Kind == "+CME ERROR" && e.Final.Code >= 0 {
		if t := cmeText(e.Final.Code); t != "" {
			msg += " (" + t + ")"
		}
	}
	return fmt.Sprintf("modem: %s: %s", e.Cmd, msg)
}

// CME reports whether err is a +CME ERROR with one of codes.
func CME(err error, codes ...int) bool {
	var ce *CommandError
	if !errors.As(err, &ce) || ce.Final.Kind != "+CME ERROR" {
		return false
	}
	for _, c := range codes {
		if ce.Final.Code == c {
			return true
		}
	}
	return false
}

// cmeText names the +CME ERROR codes a pole meets (3GPP TS 27.007 §9.2 and
// Quectel's GNSS codes), so logs say what happened.
func cmeText(code int) string {
	switch code {
	case 3:
		return "operation not allowed"
	case 4:
		return "operation not supported"
	case 10:
		return "SIM not inserted"
	case 11:
		return "SIM PIN required"
	case 12:
		return "SIM PUK required"
	case 13:
		return "SIM failure"
	case 14:
		return "SIM busy"
	case 15:
		return "SIM wrong"
	case 30:
		return "no network service"
	case 100:
		return "unknown"
	case 504:
		return "GNSS session is ongoing"
	case 505:
		return "GNSS session not active"
	case 516:
		return "GNSS not fixed now"
	}
	return ""
}

// cutPrefixFold is strings.CutPrefix ignoring ASCII case: some firmware
// answers "+qeng:" to "at+qeng".
func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return s, false
	}
	return s[len(prefix):], true
}

// responsePrefix is the prefix of the information lines a command answers
// with: "AT+CSQ" → "+CSQ:", `AT+QENG="servingcell"` → "+QENG:",
// "AT+CEREG?" → "+CEREG:". Basic commands (ATI, AT+CGSN answering a bare
// number) have no prefix, "".
func responsePrefix(cmd string) string {
	c, ok := cutPrefixFold(strings.TrimSpace(cmd), "AT")
	if !ok || c == "" || (c[0] != '+' && c[0] != '$' && c[0] != '^' && c[0] != '#') {
		return ""
	}
	end := 1
	for end < len(c) && isNameByte(c[end]) {
		end++
	}
	if end == 1 {
		return ""
	}
	return strings.ToUpper(c[:end]) + ":"
}

func isNameByte(b byte) bool {
	return b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '_'
}

// splitFields splits an information line's payload at commas outside
// double quotes and removes the quotes and surrounding spaces of each
// field: `"servingcell","NOCONN",452` → [servingcell NOCONN 452].
func splitFields(s string) []string {
	var out []string
	var cur strings.Builder
	inQuote := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			inQuote = !inQuote
		case c == ',' && !inQuote:
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	return append(out, strings.TrimSpace(cur.String()))
}

// printable reports whether every byte of s is printable ASCII: modem
// answers are, and a line that is not is noise.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
