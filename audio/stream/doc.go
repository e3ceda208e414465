// Package stream plays MP3 over HTTP: plain files on a web server and
// Icecast/Shoutcast live streams, as an audio.Source for the audio engine.
//
// Open connects, checks what the server answered, and decodes until the
// stream's format is known; the returned *Stream then yields PCM from
// libmpg123 (package audio/mpg123) as fast as its caller reads, so the sink
// paces the network.
//
// # Files and live streams
//
// A response with a Content-Length and without any icy-* header is a file.
// If its connection drops or stalls, the Stream asks for the rest with a
// Range request from the byte it reached and feeds it to the same decoder,
// so what is heard has no gap and no repeat. A server that answers the Range
// request with the whole file (no range support, or a file that changed,
// which If-Range detects) ends the Stream with ErrNoRange.
//
// Anything else (icy-* headers, or no Content-Length) is a live stream. A
// live stream has no end: when its connection ends, fails or stalls, the
// Stream connects again and continues with a fresh decoder, so no half frame
// of the old connection is glued to the new one. Retries wait a full-jitter
// backoff (internal/backoff) and stop after Options.MaxRetries consecutive
// failures; a connection that delivers audio again resets the count.
// Icecast answers 404 while a mount's encoder is away, and a mobile
// network's captive portal answers with a page, so during a reconnection
// every HTTP status but 401 and 407, and every content type, counts as
// transient; at Open nothing does.
//
// # ICY metadata
//
// Every request carries "Icy-MetaData: 1". If the response has icy-metaint,
// the body is metaint bytes of audio, one length byte L, then L×16 bytes of
// metadata, repeated. The Stream removes every metadata block before the
// decoder sees a byte (libmpg123 would take it for corrupt audio), and
// reads StreamTitle='...' from it. Titles are UTF-8 when they are valid
// UTF-8 and Latin-1 otherwise, which is what servers send in practice; a
// Vietnamese title in Windows-1258 arrives garbled either way. Title reports
// the current title; an EventTitle reports each change.
//
// Old Shoutcast servers answer "ICY 200 OK" instead of an HTTP status line,
// which net/http rejects. The client that Open builds when Options.Client is
// nil (see NewClient) rewrites that status line to "HTTP/1.0 200 OK" as it
// arrives. An injected client gets no such help.
//
// # Timeouts
//
// ConnectTimeout bounds the time from the start of a request to its
// response headers (DNS, TCP, TLS and the server's answer); StallTimeout
// bounds how long one read of the body may wait without receiving a byte.
// Time spent by the caller between Reads does not count: a Stream that is
// not read (an item preempted by an emergency) is not declared stalled, and
// if the server drops it meanwhile, the next Read reconnects or resumes.
// Both timers run on the injected clock (internal/clock).
//
// A server that trickles is bounded too: over every Options.SlowWindow of
// time spent waiting for the network (StallTimeout unless set), a
// connection must bring a quarter of the stream's own byte rate (measured
// from the audio decoded, or the icy-br header) and at least
// Options.MinByteRate bytes per second. Below that it is cut with
// ErrTooSlow and replaced like a stalled one; Options.MaxSlowCuts cuts in
// a row end the Stream. A connection counts as healthy again only after
// two good windows in a row, so that a burst on connect followed by a
// trickle cannot keep it going.
//
// # Limits
//
// Redirects are followed only to http and https URLs, at most
// Options.MaxRedirects in a row (ErrRedirect), whatever the client.
// NewClient's client reads at most MaxHeaderBytes of response headers
// (ErrHeaderTooLarge).
//
// # Errors
//
// Errors name the URL with its userinfo removed and query values masked, so
// that no credential reaches a log or an MQTT event. Sentinels for errors.Is:
// ErrScheme (checked before any I/O), ErrContentType (text/html, a playlist,
// another codec), ErrNoAudio (nothing decodable within Options.SyncLimit
// bytes), ErrConnectTimeout, ErrStalled, ErrTooSlow, ErrNoRange,
// ErrFormatChanged, ErrRedirect, ErrHeaderTooLarge and ErrClosed; an HTTP
// status is an *HTTPError. Reason names the kind of any of them in a word,
// for events.
//
// Every failure is reported once as an EventFailed, Open's included (unless
// the context ended), so that a source that never played says why as
// clearly as one that stopped.
//
// # Goroutines
//
// Read, and everything it does (connecting, reconnecting, the OnEvent
// callback), runs on the caller's goroutine. The only goroutine of the
// package is one watchdog per connection, which ends with the connection.
// Close may be called from any goroutine and interrupts a blocked Read;
// Title and Stats may be called from any goroutine.
package stream
