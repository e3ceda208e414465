package wire

import (
	"errors"
	"fmt"
	"strings"
)

// Code is an ack error code of the contract.
type Code string

// The error codes of protocol v1.
const (
	CodeBadRequest     Code = "bad_request"
	CodeUnknownCommand Code = "unknown_command"
	CodeBadArgs        Code = "bad_args"
	CodeExpired        Code = "expired"
	CodeTooLarge       Code = "too_large"
	CodeBusy           Code = "busy"
	CodeUnsupported    Code = "unsupported"
	CodeUnauthorized   Code = "unauthorized"
	CodeInternal       Code = "internal"
)

// Error is the error object of an ack. ID and Cmd are not sent inside the
// error; they carry what the decoder could read so the ack can name it.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
	// Result travels in the ack's result field (e.g. what is playing for busy).
	Result any    `json:"-"`
	ID     string `json:"-"`
	Cmd    string `json:"-"`
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Errf builds an *Error.
func Errf(code Code, format string, a ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, a...)}
}

func asType[T any](err error, target *T) bool { return errors.As(err, target) }

// Truncate shortens user text quoted in a message to at most n bytes (on a
// rune boundary, with an ellipsis), so an error never echoes a long input.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
