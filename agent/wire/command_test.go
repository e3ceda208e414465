package wire

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

var now = time.UnixMilli(1764100000000)

func TestDecodeValid(t *testing.T) {
	c, err := Decode([]byte(`{"id":"c-0193","cmd":"zones","args":{"on":["z1","z2"]},"ts":1764100000000,"ttl":30000}`), now)
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != "c-0193" || c.Cmd != "zones" || string(c.Args) != `{"on":["z1","z2"]}` || c.TS != 1764100000000 || c.TTL != 30000 {
		t.Fatalf("decoded %+v", c)
	}
	if c.Deadline() != now.Add(30*time.Second) {
		t.Errorf("deadline %v", c.Deadline())
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		payload string
		code    Code
		id      string
	}{
		{``, CodeBadRequest, ""},
		{`null`, CodeBadRequest, ""},
		{`"ping"`, CodeBadRequest, ""},
		{`{"id":"a","cmd":"ping"} {}`, CodeBadRequest, ""},
		{`{"id":"","cmd":"ping"}`, CodeBadRequest, ""},
		{`{"id":"` + strings.Repeat("a", 65) + `","cmd":"ping"}`, CodeBadRequest, ""},
		{`{"id":"a","cmd":""}`, CodeBadRequest, "a"},
		{`{"id":"a","cmd":7}`, CodeBadRequest, "a"},
		{`{"id":"a","cmd":"ping","ts":"now"}`, CodeBadRequest, "a"},
		{`{"id":"a","cmd":"ping","ts":1.5}`, CodeBadRequest, "a"},
		{`{"id":"a","cmd":"ping","ts":-1}`, CodeBadRequest, "a"},
		{`{"id":"a","cmd":"ping","auth":5}`, CodeBadRequest, "a"},
		{`{"id":"a","cmd":"ping","ts":1764099000000,"ttl":1000}`, CodeExpired, "a"},
	}
	for _, tt := range tests {
		t.Run(tt.payload, func(t *testing.T) {
			_, err := Decode([]byte(tt.payload), now)
			if err == nil || err.Code != tt.code || err.ID != tt.id {
				t.Fatalf("Decode = %v (id %q), want %s with id %q", err, idOf(err), tt.code, tt.id)
			}
			if err.Message == "" {
				t.Error("error without a message")
			}
		})
	}
}

func idOf(e *Error) string {
	if e == nil {
		return ""
	}
	return e.ID
}

func TestDecodeTooLargeKeepsID(t *testing.T) {
	p := `{"id":"huge-1","cmd":"ping","args":{"x":"` + strings.Repeat("y", MaxPayload) + `"}}`
	_, err := Decode([]byte(p), now)
	if err == nil || err.Code != CodeTooLarge || err.ID != "huge-1" {
		t.Fatalf("got %v", err)
	}
}

func TestDecodeArgsNamesField(t *testing.T) {
	var v struct {
		Level int `json:"level"`
	}
	e := DecodeArgs(json.RawMessage(`{"level":"x"}`), &v)
	if e == nil || e.Code != CodeBadArgs || !strings.Contains(e.Message, "args.level") {
		t.Fatalf("got %v", e)
	}
	if e := DecodeArgs(nil, &v); e != nil {
		t.Fatalf("absent args: %v", e)
	}
}

func TestSignatureCoversEveryField(t *testing.T) {
	key := []byte("0123456789abcdef")
	c := &Command{ID: "a", Cmd: "zones", TS: 5, Args: json.RawMessage(`{"all":true}`)}
	sig := Sign(key, "dev/pole-1", c.ID, c.Cmd, c.TS, c.Args)
	if !Verify(key, "dev/pole-1", c, sig) {
		t.Fatal("own signature rejected")
	}
	for _, mut := range []func(*Command){
		func(c *Command) { c.ID = "b" },
		func(c *Command) { c.Cmd = "volume" },
		func(c *Command) { c.TS = 6 },
		func(c *Command) { c.Args = json.RawMessage(`{"all":false}`) },
	} {
		d := *c
		mut(&d)
		if Verify(key, "dev/pole-1", &d, sig) {
			t.Errorf("signature still valid after changing %+v", d)
		}
	}
}

func TestTopics(t *testing.T) {
	tp := Topics{Root: DefaultRoot, ID: "pole-1"}
	if tp.Cmd() != "loaxa/v1/dev/pole-1/cmd" || tp.GroupCmd("all") != "loaxa/v1/grp/all/cmd" || tp.Live("ch1") != "loaxa/v1/live/ch1" {
		t.Fatal(tp.Cmd(), tp.GroupCmd("all"))
	}
	id, leaf, ok := ParseDevTopic(DefaultRoot, "loaxa/v1/dev/pole-1/state")
	if !ok || id != "pole-1" || leaf != "state" {
		t.Fatal(id, leaf, ok)
	}
	if _, _, ok := ParseDevTopic(DefaultRoot, "loaxa/v1/dev/pole-1/a/b"); ok {
		t.Fatal("nested leaf accepted")
	}
	for id, want := range map[string]bool{"pole-1": true, "ab": false, "Pole-1": false, "a_b-c": false, strings.Repeat("a", 64): true, strings.Repeat("a", 65): false} {
		if ValidID(id) != want {
			t.Errorf("ValidID(%q) = %v", id, !want)
		}
	}
}
