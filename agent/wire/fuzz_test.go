package wire

import (
	"encoding/json"
	"testing"
	"time"
)

// FuzzDecode feeds arbitrary payloads to the command decoder: it must never
// panic, and must either return a command that satisfies the contract or an
// error with a code of the contract.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"id":"c-0193","cmd":"zones","args":{"on":["z1","z2"]},"ts":1764100000000,"ttl":30000}`,
		`{"id":"c-0194","cmd":"volume","args":{"level":140}}`,
		`{"id":"x","cmd":"ping","auth":"00ff"}`,
		`{"id":"x","cmd":"ping","args":null,"ts":null}`,
		`{"id":"x"}`, `{"cmd":"ping"}`, `[]`, `null`, `{"id":1e400,"cmd":"a"}`, "{\"id\":\"\xff\"}",
		`{"id":"a","cmd":"b","ts":9223372036854775807,"ttl":9223372036854775807}`,
	} {
		f.Add([]byte(s))
	}
	now := time.UnixMilli(1764100000000)
	codes := map[Code]bool{CodeBadRequest: true, CodeExpired: true, CodeTooLarge: true}
	f.Fuzz(func(t *testing.T, payload []byte) {
		c, err := Decode(payload, now)
		if err != nil {
			if c != nil || !codes[err.Code] || err.Message == "" {
				t.Fatalf("Decode(%q) = %v, %v", payload, c, err)
			}
			if len(err.ID) > 0 && !json.Valid(payload) && err.Code != CodeTooLarge {
				t.Fatalf("id %q read from invalid JSON", err.ID)
			}
			return
		}
		if c.ID == "" || c.Cmd == "" || len(c.Args) > 0 && c.Args[0] != '{' || c.TS < 0 || c.TTL < 0 {
			t.Fatalf("Decode(%q) accepted a bad command %+v", payload, c)
		}
		if _, err := json.Marshal(Ack{ID: c.ID, Cmd: c.Cmd, OK: true}); err != nil {
			t.Fatalf("ack for %+v not encodable: %v", c, err)
		}
	})
}
