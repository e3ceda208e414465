package redact

import "testing"

func TestURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://user:pw@radio.example:8000/live.mp3":     "http://REDACTED@radio.example:8000/live.mp3",
		"https://r.example/s.mp3?token=abc&user=me#frag": "https://r.example/s.mp3?token=REDACTED&user=REDACTED",
		"http://r.example/;stream.mp3":                   "http://r.example/;stream.mp3",
		"tcp://pole:s3cret@broker.example:1883":          "tcp://REDACTED@broker.example:1883",
		"tls://broker.example:8883":                      "tls://broker.example:8883",
		"file:thoi-su.mp3":                               "file:thoi-su.mp3",
		"tone:440":                                       "tone:440",
		"live:commune-hall":                              "live:commune-hall",
		"embedded":                                       "embedded",
		// Malformed: the host survives, nothing before the '@' does.
		"tcp://u:p w@host:1883/x?k=v": "tcp://REDACTED@host:1883/REDACTED",
		"http://a b/%zz?token=t":      "http://a b/REDACTED",
	} {
		if got := URL(in); got != want {
			t.Errorf("URL(%q) = %q, want %q", in, got, want)
		}
	}
}
