package config_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/loaxa/loaxa/agent/config"
)

// config.set errors must name the dotted key the operator sent. For keys
// under [hardware], the type error names the Go embedding ("Layout") and
// drops the zone/input name and the relay index, and an unknown field
// inside a table value names no key at all.
func TestWithErrorsNameHardwareKeys(t *testing.T) {
	tests := []struct {
		key, value string
		want       string
	}{
		{"hardware.amp.active_low", `"yes"`, "key hardware.amp.active_low:"},
		{"hardware.amp.pin", `5`, "key hardware.amp.pin:"},
		{"hardware.inputs.mains.active_low", `1`, "key hardware.inputs.mains.active_low:"},
		{"hardware.zones.z1", `"GPIO17"`, "key hardware.zones.z1:"},
		{"hardware.zones.z1", `[{"pin":5}]`, "key hardware.zones.z1"},
		{"hardware.amp", `{"pin":"GPIO6","colour":"red"}`, "hardware.amp.colour"},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			_, _, err := config.Default().With(map[string]json.RawMessage{tt.key: json.RawMessage(tt.value)})
			if err == nil {
				t.Fatal("With accepted it")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %q", err, tt.want)
			}
		})
	}
}
