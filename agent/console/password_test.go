package console

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestPasswordHash(t *testing.T) {
	start := time.Now()
	h, err := HashPassword("technician-1")
	cost := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("one hash at %d iterations took %v here", Iterations, cost)
	if !strings.HasPrefix(h, "$pbkdf2-sha256$i=600000$") || CheckHash(h) != nil {
		t.Fatalf("hash %q: want $pbkdf2-sha256$i=600000$SALT$KEY", h)
	}
	if !VerifyPassword(h, "technician-1") {
		t.Error("VerifyPassword does not recognise the password")
	}
	// The rest at the lowest cost allowed: the same code, less waiting.
	h1, _ := hashWith("technician-1", MinIterations)
	h2, _ := hashWith("technician-1", MinIterations)
	if h2 == h1 {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
	if !VerifyPassword(h1, "technician-1") || VerifyPassword(h1, "technician-2") || VerifyPassword(h1, "") {
		t.Error("VerifyPassword does not tell the password from others")
	}
	for _, bad := range []string{"", "short", " leading-space", "trailing-space ", strings.Repeat("x", MaxPasswordLen+1), "\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8"} {
		if _, err := HashPassword(bad); err == nil {
			t.Errorf("HashPassword(%q) took a bad password", bad)
		}
	}
}

func TestCheckHash(t *testing.T) {
	key := strings.Repeat("A", 43) // 32 bytes, unpadded base64
	for _, tc := range []struct{ hash, want string }{
		{testHash, ""},
		{"plain-password", "not a password hash"},
		{"$pbkdf2-sha256$i=99999$c2FsdHNhbHQ$" + key, "99999 iterations"},
		{"$pbkdf2-sha256$i=10000001$c2FsdHNhbHQ$" + key, "10000001 iterations"},
		{"$pbkdf2-sha256$n=100000$c2FsdHNhbHQ$" + key, "no iteration count"},
		{"$pbkdf2-sha256$i=100000$c2FsdA$" + key, "malformed"},
		{"$pbkdf2-sha256$i=100000$c2FsdHNhbHQ$AAAA", "malformed"},
		{"$pbkdf2-sha1$i=100000$c2FsdHNhbHQ$" + key, "not a password hash"},
	} {
		err := CheckHash(tc.hash)
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckHash(%q) = %v; want %q", tc.hash, err, tc.want)
		}
		if tc.want != "" && VerifyPassword(tc.hash, "anything") {
			t.Errorf("a malformed hash %q matched", tc.hash)
		}
	}
}

func TestHashPasswordValues(t *testing.T) {
	values := map[string]json.RawMessage{
		"console.password": json.RawMessage(`"new-password-1"`),
		"console":          json.RawMessage(`{"idle_s":120,"password":"new-password-2"}`),
		"mqtt.password":    json.RawMessage(`"broker-secret"`),
	}
	if err := hashPasswordValues(values, MinIterations); err != nil {
		t.Fatal(err)
	}
	var h string
	json.Unmarshal(values["console.password"], &h)
	if !VerifyPassword(h, "new-password-1") {
		t.Errorf("console.password = %s; want its hash", values["console.password"])
	}
	var table struct {
		IdleS    int    `json:"idle_s"`
		Password string `json:"password"`
	}
	json.Unmarshal(values["console"], &table)
	if table.IdleS != 120 || !VerifyPassword(table.Password, "new-password-2") {
		t.Errorf("console = %s; want idle_s kept and the password hashed", values["console"])
	}
	if string(values["mqtt.password"]) != `"broker-secret"` {
		t.Errorf("mqtt.password changed to %s: the broker needs it plain", values["mqtt.password"])
	}

	// A valid hash is kept (loaxactl hashes on the laptop); "" removes
	// the password.
	for _, v := range []string{testHash, ""} {
		vals := map[string]json.RawMessage{"console.password": mustJSON(v)}
		if err := HashPasswordValues(vals); err != nil || string(vals["console.password"]) != string(mustJSON(v)) {
			t.Errorf("%q became %s (%v)", v, vals["console.password"], err)
		}
	}
	for _, bad := range []string{`"short"`, `42`, `"$pbkdf2-sha256$i=1$x$y"`} {
		vals := map[string]json.RawMessage{"console.password": json.RawMessage(bad)}
		err := HashPasswordValues(vals)
		if err == nil || !strings.HasPrefix(err.Error(), "key console.password: ") {
			t.Errorf("%s: err = %v; want an error naming the key", bad, err)
		}
		if err != nil && strings.Contains(err.Error(), "short") && !strings.Contains(err.Error(), "at least") {
			t.Errorf("the error quotes the password: %v", err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	c := DefaultConfig()
	c.Baud, c.IdleS, c.Password = 1234, 5, "plain-password"
	err := c.Validate()
	for _, want := range []string{"key console.baud", "key console.idle_s", "key console.password: not a password hash"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v; want %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "plain-password") {
		t.Errorf("the error quotes the password: %v", err)
	}
	c = DefaultConfig()
	c.Password = testHash
	if a := c.Access(); a.PasswordHash != testHash || a.Idle != 10*time.Minute {
		t.Errorf("Access = %+v", a)
	}
}

// BenchmarkVerifyPassword measures one login check at the default cost:
//
//	go test -run '^$' -bench VerifyPassword ./agent/console/
func BenchmarkVerifyPassword(b *testing.B) {
	h, err := HashPassword("technician-1")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if !VerifyPassword(h, "technician-1") {
			b.Fatal("no match")
		}
	}
}
