package config

import (
	"strings"
	"testing"
)

// The secret:"true" tags are the one declaration of the secrets: they are
// the keys config.get never reads back.
func TestSecretKeysComeFromTheTags(t *testing.T) {
	if got, want := strings.Join(secretKeys, ","), "auth.command_key,mqtt.password"; got != want {
		t.Fatalf("secret keys %s, want %s", got, want)
	}
	c := Default()
	c.MQTT.Password = "pw"
	if got := c.SecretsSet(); len(got) != 1 || got[0] != "mqtt.password" {
		t.Fatalf("SecretsSet = %v", got)
	}
	if _, ok := c.Flatten(false)["mqtt.password"]; ok {
		t.Fatal("Flatten(false) shows the password")
	}
}
