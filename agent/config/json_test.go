package config_test

import (
	"strings"
	"testing"

	"github.com/loaxa/loaxa/agent/config"
)

// FromJSON is the configuration as provisioning sends it: nested JSON over
// the defaults, with errors naming the dotted key.
func TestFromJSON(t *testing.T) {
	c, err := config.FromJSON([]byte(`{"id":"pole-1","groups":["xa-a"],"mqtt":{"broker":"tls://h:8883","username":"pole-1"},
		"hardware":{"zones":{"north":[{"pin":"GPIO16","active_low":true}]},"amp":{"pin":"GPIO6"}},"console":{"idle_s":120}}`))
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case c.ID != "pole-1" || c.MQTT.Broker != "tls://h:8883" || c.MQTT.Keepalive != 30:
		t.Errorf("mqtt %+v", c.MQTT)
	case len(c.Hardware.Zones) != 1 || c.Hardware.Zones["north"][0].Pin != "GPIO16":
		t.Errorf("the document's zones must replace the defaults: %v", c.Hardware.Zones)
	case c.Hardware.Amp.Pin != "GPIO6" || !c.Hardware.Amp.ActiveLow:
		t.Errorf("amp %+v: a field left out keeps its default", c.Hardware.Amp)
	case len(c.Hardware.Inputs) != 2 || c.Console.IdleS != 120 || c.Console.Baud != 115200 || c.Version != config.Version:
		t.Errorf("defaults lost: %+v", c)
	}
	for _, tt := range []struct{ doc, want string }{
		{`{"mqtt":{"brokr":"x"}}`, "key mqtt.brokr: no such configuration key"},
		{`{"hardware":{"zones":{"a":[{"pin":"GPIO4","colour":"red"}]}}}`, "key hardware.zones.a[0].colour: no such configuration key"},
		{`{"tele_interval":"often"}`, "key tele_interval: must be an integer"},
		{`{"tele_interval":5}`, "key tele_interval: must be 10..3600"},
		{`{"version":9}`, "key version"},
		{`{"id":"p-1"} {}`, "trailing data"},
		{`[]`, "one JSON object"},
		{`null`, "one JSON object"},
	} {
		if _, err := config.FromJSON([]byte(tt.doc)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.doc, err, tt.want)
		}
	}
}
