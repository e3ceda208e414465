package stream

import (
	"errors"
	"fmt"
)

// Sentinel errors, for errors.Is. Errors returned by the package wrap them
// with the URL and details.
var (
	// ErrScheme: the URL is not http:// or https://. Open checks it before
	// any I/O.
	ErrScheme = errors.New("stream: unsupported URL")
	// ErrContentType: the server answered with something that is clearly not
	// an MP3 stream (an HTML page, a playlist, another codec).
	ErrContentType = errors.New("stream: not an MP3 stream")
	// ErrNoAudio: Options.SyncLimit bytes went to the decoder without a
	// single decodable MP3 frame, or the body ended before the first one.
	ErrNoAudio = errors.New("stream: no decodable MP3 audio")
	// ErrConnectTimeout: no response headers within Options.ConnectTimeout.
	ErrConnectTimeout = errors.New("stream: connect timeout")
	// ErrStalled: a read of the body got no byte within Options.StallTimeout.
	ErrStalled = errors.New("stream: server stalled")
	// ErrNoRange: a file's connection dropped and the server would not send
	// the rest (it ignored the Range request, or the file changed).
	ErrNoRange = errors.New("stream: cannot resume file")
	// ErrFormatChanged: the stream switched to another sample rate or channel
	// count for longer than a glitch (see Stream.Read).
	ErrFormatChanged = errors.New("stream: audio format changed")
	// ErrClosed: the Stream was used after Close.
	ErrClosed = errors.New("stream: closed")
	// ErrTooSlow: a connection delivered less than the byte-rate bound
	// (see Options.MinByteRate) over a window of Options.SlowWindow.
	ErrTooSlow = errors.New("stream: server too slow")
	// ErrRedirect: the server redirected to a URL that is not http(s), or
	// more than Options.MaxRedirects times in a row.
	ErrRedirect = errors.New("stream: bad redirect")
	// ErrHeaderTooLarge: the response headers exceeded MaxHeaderBytes.
	ErrHeaderTooLarge = errors.New("stream: response headers too large")
)

// Reason names the kind of a Stream error in a word or two, for an event
// an operator's tools can sort on: "bad_url", "not_mp3", "no_audio",
// "http_status", "connect_timeout", "stalled", "too_slow", "no_range",
// "format_changed", "redirect", "header_too_large", "closed", or
// "network" for the rest (DNS, TCP, TLS, a connection reset).
func Reason(err error) string {
	var he *HTTPError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrScheme):
		return "bad_url"
	case errors.Is(err, ErrContentType):
		return "not_mp3"
	case errors.Is(err, ErrNoAudio):
		return "no_audio"
	case errors.As(err, &he):
		return "http_status"
	case errors.Is(err, ErrConnectTimeout):
		return "connect_timeout"
	case errors.Is(err, ErrStalled):
		return "stalled"
	case errors.Is(err, ErrTooSlow):
		return "too_slow"
	case errors.Is(err, ErrNoRange):
		return "no_range"
	case errors.Is(err, ErrFormatChanged):
		return "format_changed"
	case errors.Is(err, ErrRedirect):
		return "redirect"
	case errors.Is(err, ErrHeaderTooLarge):
		return "header_too_large"
	case errors.Is(err, ErrClosed):
		return "closed"
	}
	return "network"
}

// HTTPError is an unexpected HTTP status.
type HTTPError struct {
	StatusCode int    // e.g. 404
	Status     string // e.g. "404 Not Found"
	URL        string // redacted: no userinfo, query values masked
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("stream %s: server answered %s, want 200 OK", e.URL, e.Status)
}
