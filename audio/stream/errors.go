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
)

// HTTPError is an unexpected HTTP status.
type HTTPError struct {
	StatusCode int    // e.g. 404
	Status     string // e.g. "404 Not Found"
	URL        string // redacted: no userinfo, query values masked
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("stream %s: server answered %s, want 200 OK", e.URL, e.Status)
}
