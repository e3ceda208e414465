package redact

import (
	"net/url"
	"slices"
	"strings"
)

// Mask replaces every hidden part.
const Mask = "REDACTED"

// URL renders a URL for people: userinfo becomes "REDACTED@", every query
// value becomes REDACTED (the keys stay, they say what was sent), and the
// fragment is dropped. A string that is not a URL with a scheme and host
// (file:NAME, tone:440, live:CHANNEL, embedded) passes unchanged; one that
// looks like a URL but does not parse loses everything after its scheme but
// the host part after the last '@', so a malformed URL cannot leak either.
func URL(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		host := rest
		if i := strings.LastIndexByte(host, '@'); i >= 0 {
			host = Mask + "@" + host[i+1:]
		}
		if i := strings.IndexAny(host, "/?#"); i >= 0 {
			host = host[:i]
		}
		return scheme + "://" + host + "/" + Mask
	}
	return Parsed(u)
}

// Parsed is URL for a parsed URL.
func Parsed(u *url.URL) string {
	c := *u
	if c.User != nil {
		c.User = url.User(Mask)
	}
	if c.RawQuery != "" {
		q := c.Query()
		keys := make([]string, 0, len(q))
		for k := range q {
			keys = append(keys, url.QueryEscape(k)+"="+Mask)
		}
		slices.Sort(keys) // map order is random; messages must be stable
		c.RawQuery = strings.Join(keys, "&")
	}
	c.Fragment, c.RawFragment = "", ""
	return c.String()
}
