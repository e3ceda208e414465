package config_test

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loaxa/loaxa/agent/config"
	"github.com/loaxa/loaxa/hal"
)

// goodFile sets every section, as a technician would on a real pole.
const goodFile = `
version = 1
id = "pole-0042"
data_dir = "/var/lib/loaxa"
topic_root = "loaxa/v1"
groups = ["xa-hung-loc", "huyen-hung-nguyen"]
tele_interval = 120
power_on = "off"
log_level = "debug"

[mqtt]
broker = "tls://mqtt.example-province.gov.vn:8883"
username = "pole-0042"
password = "s3cret"
ca_file = "/etc/loaxa/ca.pem"
cert_file = "/etc/loaxa/pole.pem"
key_file = "/etc/loaxa/pole.key"
keepalive = 60

[auth]
command_key = "00112233445566778899aabbccddeeff"
signed = ["zones", "volume"]
max_skew = 120

[hardware.zones]
north = [{pin = "GPIO16", active_low = true}, {pin = "GPIO20", active_low = true}]
south = [{pin = "GPIO21"}]

[hardware.amp]
pin = "GPIO5"
active_low = true

[hardware.inputs.tamper]
pin = "GPIO24"
pull = "up"

[hardware.inputs.amp_fault]
pin = "GPIO26"
active_low = true
pull = "up"
`

func TestParseGoodFile(t *testing.T) {
	c, err := config.Parse([]byte(goodFile))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"id", c.ID, "pole-0042"},
		{"groups", c.Groups, []string{"xa-hung-loc", "huyen-hung-nguyen"}},
		{"all groups", c.AllGroups(), []string{"all", "xa-hung-loc", "huyen-hung-nguyen"}},
		{"tele_interval", c.TeleInterval, 120},
		{"power_on", c.PowerOn, "off"},
		{"log_level", c.LogLevel, "debug"},
		{"mqtt.broker", c.MQTT.Broker, "tls://mqtt.example-province.gov.vn:8883"},
		{"mqtt.password", c.MQTT.Password, "s3cret"},
		{"mqtt.keepalive", c.MQTT.Keepalive, 60},
		{"auth.command_key", c.Auth.CommandKey, "00112233445566778899aabbccddeeff"},
		{"auth.signed", c.Auth.Signed, []string{"zones", "volume"}},
		{"auth.max_skew", c.Auth.MaxSkew, 120},
		{"zone names", c.ZoneNames(), []string{"north", "south"}},
		{"zone north", c.Hardware.Zones["north"], []hal.PinConfig{{Pin: "GPIO16", ActiveLow: true}, {Pin: "GPIO20", ActiveLow: true}}},
		{"zone south", c.Hardware.Zones["south"], []hal.PinConfig{{Pin: "GPIO21"}}},
		{"amp", c.Hardware.Amp, hal.PinConfig{Pin: "GPIO5", ActiveLow: true}},
		{"inputs", c.Hardware.Inputs, map[string]hal.PinConfig{
			"tamper":    {Pin: "GPIO24", Pull: "up"},
			"amp_fault": {Pin: "GPIO26", ActiveLow: true, Pull: "up"},
		}},
		// Keys absent from the file keep their default.
		{"default audio rate", c.Audio.Rate, config.Default().Audio.Rate},
		{"version", c.Version, config.Version},
	}
	for _, ck := range checks {
		t.Run(ck.name, func(t *testing.T) {
			if !jsonEqual(ck.got, ck.want) {
				t.Errorf("got %v, want %v", ck.got, ck.want)
			}
		})
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestParseEmptyFileIsTheDefault(t *testing.T) {
	c, err := config.Parse(nil)
	if err != nil {
		t.Fatalf("Parse of an empty file: %v", err)
	}
	if c.Hash() != config.Default().Hash() {
		t.Error("an empty file does not give the default configuration")
	}
	if got := c.ZoneNames(); !slices.Equal(got, []string{"z1", "z2", "z3", "z4"}) {
		t.Errorf("zones of an empty file = %v, want the default z1..z4", got)
	}
}

func TestParseValidationErrorNamesTheKey(t *testing.T) {
	tests := []struct {
		name string
		file string
		key  string // the error must say "key <key>"
	}{
		{"id with capitals", `id = "Pole-1"`, "id"},
		{"id too short", `id = "p1"`, "id"},
		{"empty data_dir", `data_dir = ""`, "data_dir"},
		{"topic root with wildcard", `topic_root = "loaxa/#"`, "topic_root"},
		{"tele_interval too short", `tele_interval = 5`, "tele_interval"},
		{"tele_interval too long", `tele_interval = 3601`, "tele_interval"},
		{"power_on", `power_on = "on"`, "power_on"},
		{"log_level", `log_level = "verbose"`, "log_level"},
		{"second group", `groups = ["xa-hung-loc", "Xa Hung Loc"]`, "groups[1]"},
		{"broker scheme", "[mqtt]\nbroker = \"http://broker:1883\"", "mqtt.broker"},
		{"broker without host", "[mqtt]\nbroker = \"tcp://\"", "mqtt.broker"},
		{"keepalive too short", "[mqtt]\nkeepalive = 1", "mqtt.keepalive"},
		{"keepalive too long", "[mqtt]\nkeepalive = 601", "mqtt.keepalive"},
		{"cert without key", "[mqtt]\ncert_file = \"/etc/loaxa/pole.pem\"", "mqtt.cert_file"},
		{"key without cert", "[mqtt]\nkey_file = \"/etc/loaxa/pole.key\"", "mqtt.cert_file"},
		{"command key not hex", "[auth]\ncommand_key = \"not hex at all, really not\"", "auth.command_key"},
		{"command key too short", "[auth]\ncommand_key = \"00112233\"", "auth.command_key"},
		{"max_skew zero", "[auth]\nmax_skew = 0", "auth.max_skew"},
		{"audio rate", "[audio]\nrate = 44000", "audio.rate"},
		{"audio chime", "[audio]\nchime = [\"priority\", \"urgent\"]", "audio.chime[1]"},
		{"no zones", "[hardware.zones]", "hardware.zones"},
		{"zone without relay", "[hardware.zones]\nz1 = []", "hardware.zones.z1"},
		{"zone name", "[hardware.zones]\n\"Xom Dong\" = [{pin = \"GPIO16\"}]", "hardware.zones.Xom Dong"},
		{"zone pin empty", "[hardware.zones]\nz1 = [{pin = \"\"}]", "hardware.zones.z1[0].pin"},
		{"second relay pin", "[hardware.zones]\nz1 = [{pin = \"GPIO16\"}, {pin = \"GPIO 20\"}]", "hardware.zones.z1[1].pin"},
		{"amp pin", "[hardware.amp]\npin = \"\"", "hardware.amp.pin"},
		{"input pull", "[hardware.inputs.tamper]\npin = \"GPIO24\"\npull = \"sideways\"", "hardware.inputs.tamper.pull"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse([]byte(tt.file))
			if err == nil {
				t.Fatal("Parse accepted the file")
			}
			if want := "key " + tt.key + ":"; !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name %q", err, want)
			}
		})
	}
}

func TestParseDuplicatePinNamesBothUses(t *testing.T) {
	tests := []struct {
		name, file, key, first string
	}{
		{"two zones", "[hardware.zones]\na = [{pin = \"GPIO16\"}]\nb = [{pin = \"GPIO16\"}]",
			"hardware.zones.b[0].pin", "hardware.zones.a[0]"},
		{"zone and amp", "[hardware.zones]\na = [{pin = \"GPIO5\"}]",
			"hardware.amp.pin", "hardware.zones.a[0]"},
		{"amp and input", "[hardware.inputs.door]\npin = \"GPIO5\"",
			"hardware.inputs.door.pin", "hardware.amp"},
		{"two relays of one zone", "[hardware.zones]\na = [{pin = \"GPIO16\"}, {pin = \"GPIO16\"}]",
			"hardware.zones.a[1].pin", "hardware.zones.a[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse([]byte(tt.file))
			if err == nil {
				t.Fatal("Parse accepted a pin used twice")
			}
			msg := err.Error()
			if !strings.Contains(msg, "key "+tt.key+":") || !strings.Contains(msg, tt.first) {
				t.Errorf("error %q should name %s and the first use %s", msg, tt.key, tt.first)
			}
		})
	}
}

func TestParseReportsEveryBadKey(t *testing.T) {
	// A technician on a ladder fixes the file once, not once per key.
	_, err := config.Parse([]byte("tele_interval = 1\nlog_level = \"loud\"\n[mqtt]\nkeepalive = 0\n"))
	if err == nil {
		t.Fatal("Parse accepted three bad keys")
	}
	for _, key := range []string{"tele_interval", "log_level", "mqtt.keepalive"} {
		if !strings.Contains(err.Error(), "key "+key+":") {
			t.Errorf("error %q does not name %s", err, key)
		}
	}
}

func TestParseUnknownKeyIsAnError(t *testing.T) {
	tests := []struct {
		name, file, key string
	}{
		{"misspelt top-level key", "tele_intervall = 30", "tele_intervall"},
		{"misspelt nested key", "[mqtt]\nbrokr = \"tcp://b:1883\"", "mqtt.brokr"},
		{"unknown section", "[modems]\nport = \"/dev/ttyUSB2\"", "modems.port"},
		{"unknown pin field", "[hardware.amp]\npin = \"GPIO5\"\nactive_high = true", "hardware.amp.active_high"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse([]byte(tt.file))
			if err == nil {
				t.Fatal("Parse ignored an unknown key")
			}
			if !strings.Contains(err.Error(), tt.key) {
				t.Errorf("error %q does not name %s", err, tt.key)
			}
		})
	}
}

func TestParseSyntaxErrorGivesTheLine(t *testing.T) {
	tests := []struct {
		name, file string
		want       []string
	}{
		{"unterminated string", "version = 1\nid = \"pole-1\n", []string{"line 2"}},
		{"missing value", "version = 1\n\n[mqtt]\nbroker =\n", []string{"line 4"}},
		{"string for an integer", "version = 1\ntele_interval = \"sixty\"\n", []string{"line 2", "tele_interval"}},
		{"fraction for an integer", "[mqtt]\nkeepalive = 3.5\n", []string{"line 2", "mqtt.keepalive"}},
		{"number for a pin", "[hardware.inputs.door]\npin = 26\n", []string{"line 2", "hardware.inputs.door.pin"}},
		{"string for a relay list", "[hardware.zones]\nz1 = \"GPIO17\"\n", []string{"line 2", "hardware.zones.z1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse([]byte(tt.file))
			if err == nil {
				t.Fatal("Parse accepted broken TOML")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestParseOwnHardwareTablesReplaceTheDefaults(t *testing.T) {
	tests := []struct {
		name       string
		file       string
		zones      []string
		inputNames []string
	}{
		{"no hardware section", "", []string{"z1", "z2", "z3", "z4"}, []string{"mains", "tamper"}},
		{"own zones", "[hardware.zones]\nxom-dong = [{pin = \"GPIO16\"}]", []string{"xom-dong"}, []string{"mains", "tamper"}},
		{"own inputs", "[hardware.inputs.door]\npin = \"GPIO26\"", []string{"z1", "z2", "z3", "z4"}, []string{"door"}},
		{"own amp only", "[hardware.amp]\npin = \"GPIO6\"", []string{"z1", "z2", "z3", "z4"}, []string{"mains", "tamper"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Parse([]byte(tt.file))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := c.ZoneNames(); !slices.Equal(got, tt.zones) {
				t.Errorf("zones = %v, want %v", got, tt.zones)
			}
			var inputs []string
			for name := range c.Hardware.Inputs {
				inputs = append(inputs, name)
			}
			slices.Sort(inputs)
			if !slices.Equal(inputs, tt.inputNames) {
				t.Errorf("inputs = %v, want %v", inputs, tt.inputNames)
			}
		})
	}
}

func TestParseVersion(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		wantErr bool
	}{
		{"current", "version = 1", false},
		{"unversioned file migrates", "tele_interval = 60", false},
		{"newer than this agent", "version = 2", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Parse([]byte(tt.file))
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "version") {
					t.Fatalf("Parse = %v, want an error naming the version", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if c.Version != config.Version {
				t.Errorf("Version = %d, want %d", c.Version, config.Version)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "loaxa.toml")
	if err := os.WriteFile(good, []byte(goodFile), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := config.Load(good); err != nil || c.ID != "pole-0042" {
		t.Fatalf("Load(good) = %v, %v", c, err)
	}
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("tele_interval = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("Load(bad) = %v, want an error naming the file", err)
	}
	if _, err := config.Load(filepath.Join(dir, "missing.toml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want fs.ErrNotExist", err)
	}
}

func TestExampleFileLoads(t *testing.T) {
	// The example the installer copies to /etc/loaxa must stay loadable as
	// the configuration grows.
	path := filepath.Join("..", "..", "scripts", "loaxa.toml.example")
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		t.Skip("scripts/loaxa.toml.example does not exist")
	}
	c, err := config.Load(path)
	if err != nil {
		t.Fatalf("Load(%s): %v", path, err)
	}
	// It documents the defaults: a pole installed from it behaves as one
	// with no file at all, the id aside.
	c.ID = config.Default().ID
	if c.Hash() != config.Default().Hash() {
		t.Errorf("%s differs from the defaults in: %v", path, diffKeys(c.Flatten(true), config.Default().Flatten(true)))
	}
}

func diffKeys(a, b map[string]any) []string {
	var out []string
	for k, v := range a {
		if !jsonEqual(v, b[k]) {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// fileID is what a rewrite changes: the inode and the modification time.
type fileID struct {
	ino   uint64
	mtime time.Time
	mode  fs.FileMode
}

func statID(t *testing.T, path string) fileID {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		t.Skip("no inode numbers on this platform")
	}
	return fileID{ino: st.Ino, mtime: fi.ModTime(), mode: fi.Mode().Perm()}
}

func backdate(t *testing.T, path string) {
	t.Helper()
	old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
}

func TestSave(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "etc", "loaxa.toml") // Save creates the directory
	c, err := config.Parse([]byte(goodFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Save(path); err != nil {
		t.Fatalf("Save: %v", err)
	}

	t.Run("mode 0600, it holds secrets", func(t *testing.T) {
		if id := statID(t, path); id.mode != 0o600 {
			t.Errorf("mode = %v, want 0600", id.mode)
		}
	})
	t.Run("loads back equal, secrets included", func(t *testing.T) {
		back, err := config.Load(path)
		if err != nil {
			t.Fatalf("Load of the saved file: %v", err)
		}
		if !jsonEqual(back.Flatten(true), c.Flatten(true)) {
			t.Errorf("saved and loaded differ in %v", diffKeys(back.Flatten(true), c.Flatten(true)))
		}
	})
	t.Run("no temp file left", func(t *testing.T) {
		des, _ := os.ReadDir(filepath.Dir(path))
		if len(des) != 1 {
			var names []string
			for _, de := range des {
				names = append(names, de.Name())
			}
			t.Errorf("directory holds %v, want only loaxa.toml", names)
		}
	})
	t.Run("unchanged config is not rewritten", func(t *testing.T) {
		backdate(t, path)
		before := statID(t, path)
		same, err := config.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := same.Save(path); err != nil {
			t.Fatalf("Save: %v", err)
		}
		if after := statID(t, path); after != before {
			t.Errorf("an unchanged config was rewritten: %+v → %+v", before, after)
		}
	})

	changes := []struct {
		name   string
		change func(c *config.Config)
		check  func(c *config.Config) bool
	}{
		{"a plain key", func(c *config.Config) { c.TeleInterval = 300 }, func(c *config.Config) bool { return c.TeleInterval == 300 }},
		{"only a secret", func(c *config.Config) { c.MQTT.Password = "n3w" }, func(c *config.Config) bool { return c.MQTT.Password == "n3w" }},
		{"only the command key", func(c *config.Config) { c.Auth.CommandKey = strings.Repeat("ab", 32) },
			func(c *config.Config) bool { return c.Auth.CommandKey == strings.Repeat("ab", 32) }},
	}
	for _, ch := range changes {
		t.Run("changed "+ch.name+" is rewritten atomically", func(t *testing.T) {
			backdate(t, path)
			before := statID(t, path)
			next, err := config.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			ch.change(next)
			if err := next.Save(path); err != nil {
				t.Fatalf("Save: %v", err)
			}
			after := statID(t, path)
			// A new inode: the file was replaced by rename, never
			// rewritten in place where a power cut could tear it.
			if after.ino == before.ino {
				t.Error("file rewritten in place (same inode)")
			}
			if after.mode != 0o600 {
				t.Errorf("mode = %v after a rewrite, want 0600", after.mode)
			}
			back, err := config.Load(path)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !ch.check(back) {
				t.Error("the change did not reach the file")
			}
		})
	}
}

func TestSaveOverInvalidFileRewritesIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "loaxa.toml")
	if err := os.WriteFile(path, []byte("this is = = not toml"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := config.Default().Save(path); err != nil {
		t.Fatalf("Save: %v", err)
	}
	if _, err := config.Load(path); err != nil {
		t.Fatalf("the saved file does not load: %v", err)
	}
}

func TestEncodeRoundTrips(t *testing.T) {
	for _, src := range []string{"", goodFile} {
		c, err := config.Parse([]byte(src))
		if err != nil {
			t.Fatal(err)
		}
		data, err := c.Encode()
		if err != nil {
			t.Fatalf("Encode: %v", err)
		}
		back, err := config.Parse(data)
		if err != nil {
			t.Fatalf("Parse(Encode()): %v\n%s", err, data)
		}
		if d := diffKeys(back.Flatten(true), c.Flatten(true)); len(d) > 0 {
			t.Errorf("round trip changed %v", d)
		}
	}
}

// raw builds config.set values from Go values.
func raw(t *testing.T, kv map[string]any) map[string]json.RawMessage {
	t.Helper()
	out := map[string]json.RawMessage{}
	for k, v := range kv {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out[k] = b
	}
	return out
}

func TestWith(t *testing.T) {
	tests := []struct {
		name    string
		values  map[string]any
		changed []string
		check   func(t *testing.T, c *config.Config)
	}{
		{"leaf keys", map[string]any{"tele_interval": 30, "mqtt.broker": "tls://b.example.vn:8883", "groups": []string{"xa-hung-loc"}},
			[]string{"groups", "mqtt.broker", "tele_interval"},
			func(t *testing.T, c *config.Config) {
				if c.TeleInterval != 30 || c.MQTT.Broker != "tls://b.example.vn:8883" || !slices.Equal(c.Groups, []string{"xa-hung-loc"}) {
					t.Errorf("got %d %q %v", c.TeleInterval, c.MQTT.Broker, c.Groups)
				}
			}},
		{"same value changes nothing", map[string]any{"tele_interval": 60, "log_level": "info"}, nil,
			func(t *testing.T, c *config.Config) {
				if c.Hash() != config.Default().Hash() {
					t.Error("config differs")
				}
			}},
		{"a secret", map[string]any{"mqtt.password": "hunter22"}, []string{"mqtt.password"},
			func(t *testing.T, c *config.Config) {
				if c.MQTT.Password != "hunter22" {
					t.Errorf("password = %q", c.MQTT.Password)
				}
			}},
		{"null removes a zone", map[string]any{"hardware.zones.z4": nil}, []string{"hardware.zones.z4"},
			func(t *testing.T, c *config.Config) {
				if got := c.ZoneNames(); !slices.Equal(got, []string{"z1", "z2", "z3"}) {
					t.Errorf("zones = %v", got)
				}
			}},
		{"null removes an input", map[string]any{"hardware.inputs.mains": nil},
			[]string{"hardware.inputs.mains.active_low", "hardware.inputs.mains.pin", "hardware.inputs.mains.pull"},
			func(t *testing.T, c *config.Config) {
				if _, ok := c.Hardware.Inputs["mains"]; ok {
					t.Error("input mains still there")
				}
			}},
		{"a new zone", map[string]any{"hardware.zones.xom-dong": []hal.PinConfig{{Pin: "GPIO16", ActiveLow: true}}},
			[]string{"hardware.zones.xom-dong"},
			func(t *testing.T, c *config.Config) {
				if got := c.Hardware.Zones["xom-dong"]; len(got) != 1 || got[0].Pin != "GPIO16" || !got[0].ActiveLow {
					t.Errorf("zone xom-dong = %v", got)
				}
			}},
		{"a whole table", map[string]any{"hardware.amp": map[string]any{"pin": "GPIO6", "active_low": false}},
			[]string{"hardware.amp.active_low", "hardware.amp.pin"},
			func(t *testing.T, c *config.Config) {
				if c.Hardware.Amp != (hal.PinConfig{Pin: "GPIO6"}) {
					t.Errorf("amp = %+v", c.Hardware.Amp)
				}
			}},
		{"one field of a table", map[string]any{"hardware.amp.pin": "GPIO6"}, []string{"hardware.amp.pin"},
			func(t *testing.T, c *config.Config) {
				if c.Hardware.Amp != (hal.PinConfig{Pin: "GPIO6", ActiveLow: true}) {
					t.Errorf("amp = %+v", c.Hardware.Amp)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := config.Default()
			before := c.Hash()
			next, changed, err := c.With(raw(t, tt.values))
			if err != nil {
				t.Fatalf("With: %v", err)
			}
			if !slices.Equal(changed, tt.changed) {
				t.Errorf("changed = %q, want %q", changed, tt.changed)
			}
			tt.check(t, next)
			if c.Hash() != before || c.MQTT.Password != "" {
				t.Error("With modified the configuration it was called on")
			}
		})
	}
}

func TestWithRefuses(t *testing.T) {
	tests := []struct {
		name   string
		values map[string]json.RawMessage
		want   string // the error names this
	}{
		{"no values", map[string]json.RawMessage{}, "values"},
		{"unknown key", map[string]json.RawMessage{"telemetry_interval": []byte(`30`)}, "key telemetry_interval"},
		{"unknown nested key", map[string]json.RawMessage{"mqtt.brokr": []byte(`"tcp://b:1883"`)}, "key mqtt.brokr"},
		{"fixed key version", map[string]json.RawMessage{"version": []byte(`2`)}, "key version"},
		{"fixed key id", map[string]json.RawMessage{"id": []byte(`"other-pole"`)}, "key id"},
		{"fixed key data_dir", map[string]json.RawMessage{"data_dir": []byte(`"/tmp"`)}, "key data_dir"},
		{"string for an integer", map[string]json.RawMessage{"tele_interval": []byte(`"30"`)}, "key tele_interval"},
		{"fraction for an integer", map[string]json.RawMessage{"mqtt.keepalive": []byte(`30.5`)}, "key mqtt.keepalive"},
		{"string for a list", map[string]json.RawMessage{"groups": []byte(`"xa-hung-loc"`)}, "key groups"},
		{"not JSON", map[string]json.RawMessage{"log_level": []byte(`debug`)}, "key log_level"},
		{"null for a leaf", map[string]json.RawMessage{"tele_interval": []byte(`null`)}, "key tele_interval"},
		{"into a leaf", map[string]json.RawMessage{"tele_interval.seconds": []byte(`30`)}, "key tele_interval.seconds"},
		{"value out of range", map[string]json.RawMessage{"tele_interval": []byte(`5`)}, "key tele_interval"},
		{"new zone reuses a pin", map[string]json.RawMessage{"hardware.zones.z5": []byte(`[{"pin":"GPIO17"}]`)}, "key hardware.zones.z5[0].pin"},
		{"last zone removed", map[string]json.RawMessage{
			"hardware.zones.z1": []byte(`null`), "hardware.zones.z2": []byte(`null`),
			"hardware.zones.z3": []byte(`null`), "hardware.zones.z4": []byte(`null`),
		}, "key hardware.zones"},
		{"one good key, one bad", map[string]json.RawMessage{"tele_interval": []byte(`30`), "log_level": []byte(`"loud"`)}, "key log_level"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := config.Default()
			before := c.Hash()
			next, changed, err := c.With(tt.values)
			if err == nil {
				t.Fatalf("With accepted it: changed %v", changed)
			}
			if next != nil || changed != nil {
				t.Errorf("With returned a config (%v) or changes (%v) with its error", next != nil, changed)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %q", err, tt.want)
			}
			if c.Hash() != before {
				t.Error("a refused change modified the configuration")
			}
		})
	}
}

func TestFlattenHidesSecrets(t *testing.T) {
	c, err := config.Parse([]byte(goodFile))
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{"mqtt.password": "s3cret", "auth.command_key": "00112233445566778899aabbccddeeff"}

	flat := c.Flatten(false)
	for key, value := range secrets {
		if _, ok := flat[key]; ok {
			t.Errorf("Flatten(false) includes %s", key)
		}
		// Not under another name either.
		b, _ := json.Marshal(flat)
		if strings.Contains(string(b), value) {
			t.Errorf("Flatten(false) holds the value of %s", key)
		}
	}
	all := c.Flatten(true)
	for key, value := range secrets {
		if all[key] != value {
			t.Errorf("Flatten(true)[%s] = %v, want %q", key, all[key], value)
		}
	}
	// Dotted keys reach the leaves; lists are leaves.
	for key, want := range map[string]any{"mqtt.broker": "tls://mqtt.example-province.gov.vn:8883", "tele_interval": float64(120), "hardware.amp.pin": "GPIO5"} {
		if flat[key] != want {
			t.Errorf("Flatten(false)[%s] = %v, want %v", key, flat[key], want)
		}
	}
	if _, ok := flat["hardware.zones.north"]; !ok {
		t.Error("Flatten(false) has no hardware.zones.north")
	}
	if got := c.SecretsSet(); !slices.Equal(got, []string{"auth.command_key", "mqtt.password"}) {
		t.Errorf("SecretsSet() = %v", got)
	}
	if got := config.Default().SecretsSet(); len(got) != 0 {
		t.Errorf("SecretsSet() of the default = %v, want none", got)
	}
}

func TestHash(t *testing.T) {
	base := config.Default()
	tests := []struct {
		name   string
		change func(c *config.Config)
		same   bool
	}{
		{"clone", func(*config.Config) {}, true},
		{"mqtt password", func(c *config.Config) { c.MQTT.Password = "other" }, true},
		{"command key", func(c *config.Config) { c.Auth.CommandKey = strings.Repeat("cd", 16) }, true},
		{"tele_interval", func(c *config.Config) { c.TeleInterval = 61 }, false},
		{"broker", func(c *config.Config) { c.MQTT.Broker = "tcp://10.0.0.1:1883" }, false},
		{"signed commands", func(c *config.Config) { c.Auth.Signed = []string{"zones"} }, false},
		{"zone pin", func(c *config.Config) { c.Hardware.Zones["z1"][0].Pin = "GPIO6" }, false},
		{"group", func(c *config.Config) { c.Groups = []string{"xa-hung-loc"} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base.Clone()
			tt.change(c)
			if same := c.Hash() == base.Hash(); same != tt.same {
				t.Errorf("hash unchanged = %v, want %v", same, tt.same)
			}
		})
	}
	if h := base.Hash(); h != base.Hash() || len(h) != 16 {
		t.Errorf("Hash() = %q, want 16 stable hex digits", h)
	}
}

func TestIsSecret(t *testing.T) {
	tests := []struct {
		key    string
		secret bool
	}{
		{"tele_interval", false},
		{"log_level", false},
		{"groups", false},
		{"auth.signed", false},
		{"auth.command_key", true},
		{"mqtt.password", true},
		{"mqtt.broker", false},
		{"topic_root", false},
		{"hardware.zones.z1", false},
		{"audio.rate", false},
		{"audio.fade_ms", false},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if got := config.IsSecret(tt.key); got != tt.secret {
				t.Errorf("IsSecret = %v, want %v", got, tt.secret)
			}
		})
	}
}
