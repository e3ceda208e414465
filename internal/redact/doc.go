// Package redact hides secrets in URLs before they reach a log line, an
// event or an error message: stream URLs of Icecast servers and broker URLs
// often carry a password in their userinfo or a token in their query.
package redact
