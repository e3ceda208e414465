package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"time"
	"unicode/utf8"
)

// Command is a decoded, validated command document.
type Command struct {
	ID   string          `json:"id"`
	Cmd  string          `json:"cmd"`
	Args json.RawMessage `json:"args,omitempty"`
	// TS is the sender's time in ms since the epoch; 0 when absent.
	TS int64 `json:"ts,omitempty"`
	// TTL in ms; 0 when absent (no expiry).
	TTL int64 `json:"ttl,omitempty"`
	// Auth is the HMAC signature (see Signature); empty when absent.
	Auth string `json:"auth,omitempty"`
}

// Deadline is when the command expires; zero when it has no ttl.
func (c *Command) Deadline() time.Time {
	if c.TTL <= 0 || c.TTL > math.MaxInt64-c.TS {
		return time.Time{} // no ttl, or one so long it never expires
	}
	return time.UnixMilli(c.TS + c.TTL)
}

// Ack is the answer to one command.
type Ack struct {
	// Seq is set on answers to commands that change something: see
	// Event.Seq. Answers to read-only commands (ping, status, ...) have none.
	Seq    uint64 `json:"seq,omitempty"`
	ID     string `json:"id"`
	Cmd    string `json:"cmd,omitempty"`
	OK     bool   `json:"ok"`
	Result any    `json:"result,omitempty"`
	Error  *Error `json:"error,omitempty"`
	TS     int64  `json:"ts"`
}

// Decode parses an untrusted command payload. It never panics; every
// failure is an *Error with the code the contract gives for it, and the id
// when one could be read (so the ack can name it). now is used for ts/ttl
// expiry.
func Decode(payload []byte, now time.Time) (*Command, *Error) {
	if len(payload) > MaxPayload {
		return nil, &Error{Code: CodeTooLarge, ID: peekID(payload),
			Message: fmt.Sprintf("payload is %d bytes, the limit is %d", len(payload), MaxPayload)}
	}
	if !utf8.Valid(payload) {
		return nil, &Error{Code: CodeBadRequest, Message: "payload is not valid UTF-8 JSON"}
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(&raw); err != nil {
		return nil, &Error{Code: CodeBadRequest, Message: "payload is not a JSON object: " + err.Error()}
	}
	if len(bytes.TrimSpace(payload[dec.InputOffset():])) > 0 {
		return nil, &Error{Code: CodeBadRequest, Message: "trailing data after the JSON object"}
	}
	if raw == nil {
		return nil, &Error{Code: CodeBadRequest, Message: "payload is null, expected a JSON object"}
	}
	if err := checkObjectKeys(payload); err != nil {
		return nil, &Error{Code: CodeBadRequest, ID: peekID(payload), Message: "payload is not a valid command: " + err.Error()}
	}
	c := &Command{}
	idRaw, ok := raw["id"]
	if !ok {
		return nil, &Error{Code: CodeBadRequest, Message: `missing "id"`}
	}
	if err := json.Unmarshal(idRaw, &c.ID); err != nil {
		return nil, &Error{Code: CodeBadRequest, Message: `"id" must be a string`}
	}
	if n := utf8.RuneCountInString(c.ID); n < 1 || n > 64 {
		return nil, &Error{Code: CodeBadRequest, Message: fmt.Sprintf(`"id" must be 1..64 characters, got %d`, n)}
	}
	bad := func(format string, a ...any) (*Command, *Error) {
		return nil, &Error{Code: CodeBadRequest, ID: c.ID, Message: fmt.Sprintf(format, a...)}
	}
	cmdRaw, ok := raw["cmd"]
	if !ok {
		return bad(`missing "cmd"`)
	}
	if err := json.Unmarshal(cmdRaw, &c.Cmd); err != nil {
		return bad(`"cmd" must be a string`)
	}
	if c.Cmd == "" || len(c.Cmd) > 64 {
		return bad(`"cmd" must be 1..64 characters`)
	}
	if a, ok := raw["args"]; ok && !bytes.Equal(bytes.TrimSpace(a), []byte("null")) {
		a = bytes.TrimSpace(a)
		if len(a) == 0 || a[0] != '{' {
			return bad(`"args" must be an object`)
		}
		c.Args = a
	}
	if err := intField(raw, "ts", &c.TS); err != nil {
		return bad("%v", err)
	}
	if err := intField(raw, "ttl", &c.TTL); err != nil {
		return bad("%v", err)
	}
	if a, ok := raw["auth"]; ok {
		if err := json.Unmarshal(a, &c.Auth); err != nil || len(c.Auth) > 128 {
			return bad(`"auth" must be a hex string`)
		}
	}
	if c.TS < 0 || c.TTL < 0 {
		return bad(`"ts" and "ttl" must not be negative`)
	}
	if c.TTL > 0 && c.TS == 0 {
		return bad(`"ttl" needs "ts": the expiry is ts+ttl`)
	}
	if d := c.Deadline(); !d.IsZero() && now.After(d) {
		return nil, &Error{Code: CodeExpired, ID: c.ID, Cmd: c.Cmd,
			Message: fmt.Sprintf("expired %s ago (ts+ttl = %d)", now.Sub(d).Round(time.Millisecond), c.TS+c.TTL)}
	}
	return c, nil
}

func intField(raw map[string]json.RawMessage, key string, dst *int64) error {
	v, ok := raw[key]
	v = bytes.TrimSpace(v)
	if !ok || bytes.Equal(v, []byte("null")) {
		return nil
	}
	if len(v) == 0 || v[0] != '-' && (v[0] < '0' || v[0] > '9') {
		// json.Number would take "123" (a string) as well.
		return fmt.Errorf("%q must be an integer (ms), not %s", key, jsonKindOf(v))
	}
	var f json.Number
	d := json.NewDecoder(bytes.NewReader(v))
	d.UseNumber()
	if err := d.Decode(&f); err != nil {
		return fmt.Errorf("%q must be an integer (ms)", key)
	}
	n, err := f.Int64()
	if err != nil {
		return fmt.Errorf("%q must be an integer (ms), got %s", key, f)
	}
	*dst = n
	return nil
}

// peekID tries to read the id of an oversized payload so its too_large ack
// can name it. It gives up on payloads too big to parse cheaply.
func peekID(payload []byte) string {
	if len(payload) > 4*MaxPayload {
		return ""
	}
	var v struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(payload, &v) != nil || utf8.RuneCountInString(v.ID) > 64 {
		return ""
	}
	return v.ID
}

// DecodeArgs unmarshals command args into dst strictly: unknown fields and
// wrong types are a bad_args error that names the field. Absent args decode
// as an empty object.
func DecodeArgs(args json.RawMessage, dst any) *Error {
	if len(args) == 0 {
		args = []byte("{}")
	}
	if err := checkObjectKeys(args); err != nil {
		return Errf(CodeBadArgs, "args: %v", err)
	}
	d := json.NewDecoder(bytes.NewReader(args))
	d.DisallowUnknownFields()
	if err := d.Decode(dst); err != nil {
		var te *json.UnmarshalTypeError
		if asType(err, &te) && te.Field != "" {
			return Errf(CodeBadArgs, "args.%s must be %s, got %s", te.Field, te.Type.String(), te.Value)
		}
		return Errf(CodeBadArgs, "args: %v", err)
	}
	return nil
}

// jsonKindOf names the JSON type of a raw value for error messages.
func jsonKindOf(v []byte) string {
	switch {
	case len(v) == 0:
		return "empty"
	case v[0] == '"':
		return "a string"
	case v[0] == '{':
		return "an object"
	case v[0] == '[':
		return "an array"
	case v[0] == 't' || v[0] == 'f':
		return "a boolean"
	}
	return "a value of another type"
}
