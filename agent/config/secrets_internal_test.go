package config

import (
	"strings"
	"testing"
)

// The secret:"true" tags are the one declaration of the secrets: they are
// the keys config.get never reads back.
func TestSecretKeysComeFromTheTags(t *testing.T) {
	if got, want := strings.Join(secretKeys, ","), "auth.command_key,console.password,mqtt.password"; got != want {
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

// Issue 7, finding 8: a pin "../../x" was accepted (the simulator makes a
// file of each pin's name); groups had no limit.
func TestPinNamesAndGroupsAreBounded(t *testing.T) {
	for _, pin := range []string{"../../x", "GPIO17/..", "a b", "GPIO\x00", strings.Repeat("G", 33)} {
		c := Default()
		c.Hardware.Amp.Pin = pin
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "hardware.amp.pin") {
			t.Errorf("pin %q: %v", pin, err)
		}
	}
	c := Default()
	for i := range MaxGroups + 1 {
		c.Groups = append(c.Groups, "group-"+strings.Repeat("x", 3)+string(rune('a'+i%26))+string(rune('a'+i/26)))
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "groups") {
		t.Errorf("%d groups: %v", len(c.Groups), err)
	}
}
