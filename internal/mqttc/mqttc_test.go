package mqttc

import (
	"strings"
	"testing"
)

func TestParseBroker(t *testing.T) {
	for _, ok := range []string{
		"tcp://127.0.0.1:1883", "tls://broker.example.vn:8883", "ssl://b:8883", "mqtt://b-1.x:1",
		"mqtts://[::1]:8883", "tcp://user:pw@broker:1883", "tcp://broker:1883/",
	} {
		if _, err := ParseBroker(ok); err != nil {
			t.Errorf("ParseBroker(%q) = %v, want ok", ok, err)
		}
	}
	for in, want := range map[string]string{
		// Each of these was once accepted by config.set and left a pole
		// unable to connect after its restart.
		"tcp://a b":             "white space",
		"tcp://x":               "no port",
		"tcp://127.0.0.1:99999": "must be 1..65535",
		"tcp://127.0.0.1:0":     "must be 1..65535",
		"tcp://127.0.0.1:":      "no port",
		"http://b:1883":         `scheme "http"`,
		"broker:1883":           "scheme",
		"localhost":             "scheme",
		"tcp://:1883":           "no host",
		"tcp://b:1883/x":        "path or query",
		"tcp://b:1883?x=1":      "path or query",
		"tcp://-bad-:1883":      "not a host name",
		"tcp://b%zz:1":          "not a URL",
		"":                      "scheme",
	} {
		_, err := ParseBroker(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseBroker(%q) = %v, want an error containing %q", in, err, want)
		}
	}
}

func TestParseBrokerErrorsDoNotLeakPasswords(t *testing.T) {
	_, err := ParseBroker("tcp://u:s3cret@b:99999")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("err = %v", err)
	}
}
