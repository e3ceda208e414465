package console

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/loaxa/loaxa/agent/wire"
)

// spec is one console command: its name in command documents, its human
// words, and how human arguments become the document's args.
type spec struct {
	name  string   // "config.set"
	words []string // {"config", "set"}
	usage string
	// summary is one line for `help`; more is shown by `help CMD`.
	summary, more string
	// readOnly commands need no login on a board with a password.
	readOnly bool
	// local commands are executed by the console (calling Backend
	// methods); the others go to Backend.Do.
	local bool
	// parse turns the human arguments into args. words are the
	// arguments split on white space, rest the text after the command's
	// words, untouched. nil means the command takes no arguments.
	parse func(words []string, rest string) (json.RawMessage, *wire.Error)
}

// Console-only command names in JSON documents.
const (
	cmdHelp         = "help"
	cmdBanner       = "banner"
	cmdLogin        = "login"
	cmdLogout       = "logout"
	cmdTestRelay    = "test.relay"
	cmdTestTone     = "test.tone"
	cmdTestModem    = "test.modem"
	cmdTestBroker   = "test.broker"
	cmdProvision    = "provision"
	cmdFactoryReset = "factory-reset"
)

// readOnlyRemote are protocol commands that change nothing, allowed without
// login besides the specs marked readOnly.
var readOnlyRemote = []string{"ping", "status", "config.get", "schedule.get", "log.get"}

var specs = []*spec{
	{name: cmdHelp, words: []string{"help"}, usage: "help [CMD]", readOnly: true, local: true,
		summary: "list the commands, or explain one",
		parse: func(w []string, rest string) (json.RawMessage, *wire.Error) {
			if rest == "" {
				return nil, nil
			}
			return mustJSON(map[string]string{"cmd": rest}), nil
		}},
	{name: "status", words: []string{"status"}, usage: "status", readOnly: true,
		summary: "the banner and the full state of the pole"},
	{name: "ping", words: []string{"ping"}, usage: "ping", readOnly: true,
		summary: "firmware version and uptime"},
	{name: cmdBanner, words: []string{"banner"}, usage: "banner", readOnly: true, local: true,
		summary: "who this pole is: id, firmware, modem, broker, zones, alarms"},
	{name: cmdLogin, words: []string{"login"}, usage: "login", readOnly: true, local: true,
		summary: "log in to change things (asks for the console password)",
		more: "The password is not echoed. Wrong passwords make the next try wait longer\n" +
			"(1 s, 2 s, 4 s, ... up to 5 minutes). An idle session logs out after console.idle_s.",
		parse: func(w []string, rest string) (json.RawMessage, *wire.Error) {
			if rest == "" {
				return nil, nil
			}
			return mustJSON(map[string]string{"password": rest}), nil
		}},
	{name: cmdLogout, words: []string{"logout"}, usage: "logout", readOnly: true, local: true,
		summary: "end the login"},
	{name: "zones", words: []string{"zones"}, usage: "zones on Z [Z...] [off Z...] | zones off Z [Z...] | zones all on|off",
		summary: "switch speaker-zone relays", more: "e.g. `zones on z1 z2`, `zones off z3`, `zones all off`.",
		parse: parseZones},
	{name: "volume", words: []string{"volume"}, usage: "volume LEVEL", summary: "set the master volume, 0..100 (kept across restarts)",
		parse: func(w []string, rest string) (json.RawMessage, *wire.Error) {
			if len(w) != 1 {
				return nil, usageErr("volume takes one level 0..100, e.g. `volume 70`")
			}
			n, err := strconv.Atoi(w[0])
			if err != nil {
				return nil, usageErr("volume level %q is not a whole number; e.g. `volume 70`", clip(w[0]))
			}
			return mustJSON(map[string]int{"level": n}), nil
		}},
	{name: "play", words: []string{"play"}, usage: "play SOURCE [DURATION_S] [KEY=VALUE...]",
		summary: "play audio: tone:HZ, file:NAME, live:CHANNEL or an http(s) URL",
		more: "e.g. `play tone:440 3`, `play file:bulletin.mp3 priority=priority zones=z1,z2`.\n" +
			"KEYs: " + strings.Join(slices.Sorted(maps.Keys(playKeys)), ", ") + ".",
		parse: parsePlay},
	{name: "stop", words: []string{"stop"}, usage: "stop [PRIORITY|ITEM] [KEY=VALUE...]",
		summary: "stop what plays (or one priority level, or one item)", parse: parseStop},
	{name: "config.get", words: []string{"config", "get"}, usage: "config get [KEY...]", readOnly: true,
		summary: "show configuration keys (secrets are never shown)",
		parse: func(w []string, rest string) (json.RawMessage, *wire.Error) {
			if len(w) == 0 {
				return nil, nil
			}
			return mustJSON(map[string][]string{"keys": w}), nil
		}},
	{name: "config.set", words: []string{"config", "set"}, usage: "config set KEY VALUE",
		summary: "change one configuration key",
		more: "VALUE is the rest of the line: a number, true/false, a JSON array or object,\n" +
			"or else taken as text (quote it, \"30\", to force text). Secret values are not echoed.",
		parse: parseConfigSet},
	{name: "restart", words: []string{"restart"}, usage: "restart", summary: "restart the agent"},
	{name: "reboot", words: []string{"reboot"}, usage: "reboot", summary: "reboot the board"},
	{name: cmdTestRelay, words: []string{"test", "relay"}, usage: "test relay NAME", local: true,
		summary: "switch one relay on, then off (a zone name, or amp)",
		parse: func(w []string, rest string) (json.RawMessage, *wire.Error) {
			if len(w) != 1 {
				return nil, usageErr("test relay takes one relay name: a zone such as z1, or amp")
			}
			return mustJSON(map[string]string{"name": w[0]}), nil
		}},
	{name: cmdTestTone, words: []string{"test", "tone"}, usage: "test tone", local: true,
		summary: "play a test tone through the amplifier and every zone"},
	{name: cmdTestModem, words: []string{"test", "modem"}, usage: "test modem", local: true,
		summary: "read the modem: IMEI, ICCID, operator, signal"},
	{name: cmdTestBroker, words: []string{"test", "broker"}, usage: "test broker", local: true,
		summary: "connect to the broker with the saved configuration"},
	{name: cmdProvision, words: []string{"provision"}, usage: `provision {"config":{...},"files":{...}}`, local: true,
		summary: "apply a whole configuration (one JSON document on one line)",
		more: "config is the whole configuration, nested as in JSON ({\"id\":\"...\",\"mqtt\":{\"broker\":\"...\"}});\n" +
			"keys left out take their defaults. files holds PEM documents for mqtt.ca_file,\n" +
			"mqtt.cert_file and mqtt.key_file. Everything is checked before anything changes;\n" +
			"then the pole restarts its link. The line is not echoed. `loaxactl provision` sends it for you.",
		parse: func(w []string, rest string) (json.RawMessage, *wire.Error) {
			if !strings.HasPrefix(rest, "{") || !json.Valid([]byte(rest)) {
				return nil, usageErr(`provision takes one JSON object on the same line: {"config":{...}}`)
			}
			return json.RawMessage(rest), nil
		}},
	{name: cmdFactoryReset, words: []string{"factory-reset"}, usage: "factory-reset", local: true,
		summary: "put configuration and data back to defaults (asks for confirmation)",
		parse: func(w []string, rest string) (json.RawMessage, *wire.Error) {
			if rest == "" {
				return nil, nil
			}
			return mustJSON(map[string]string{"confirm": rest}), nil
		}},
}

// Other protocol commands reach the backend as `CMD [JSON-ARGS]`: those
// of protocol v1 without a human form, and any dotted name (later
// protocol versions add commands such as "schedule.set"). A single
// unknown word is answered here, so a burst of line noise that happens to
// spell "fs" never reaches the agent.
var (
	cmdNameRE     = regexp.MustCompile(`^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)+$`)
	protocolNames = []string{"schedule.set", "schedule.get", "schedule.clear", "media.fetch", "log.get", "ota"}
)

func findSpec(name string) *spec {
	for _, s := range specs {
		if s.name == name {
			return s
		}
	}
	return nil
}

// isReadOnly reports whether cmd may run without login.
func isReadOnly(cmd string) bool {
	if s := findSpec(cmd); s != nil {
		return s.readOnly
	}
	return slices.Contains(readOnlyRemote, cmd)
}

// parseHuman translates a human line into a command name and args. The
// line is not empty.
func parseHuman(text string) (name string, args json.RawMessage, e *wire.Error) {
	tokens := strings.Fields(text)
	for _, s := range specs {
		var n int
		switch {
		case tokens[0] == s.name:
			n = 1
		case len(tokens) >= len(s.words) && slices.Equal(tokens[:len(s.words)], s.words):
			n = len(s.words)
		default:
			continue
		}
		rest := strings.TrimSpace(text)
		for _, w := range tokens[:n] {
			rest = strings.TrimSpace(strings.TrimPrefix(rest, w))
		}
		if s.parse == nil {
			if rest != "" {
				return s.name, nil, usageErr("%s takes no arguments", strings.Join(s.words, " "))
			}
			return s.name, nil, nil
		}
		args, e := s.parse(tokens[n:], rest)
		return s.name, args, e
	}
	if tokens[0] == "config" || tokens[0] == "test" {
		return "", nil, usageErr("%s what? Type `help` for the commands", tokens[0])
	}
	if !slices.Contains(protocolNames, tokens[0]) && (len(tokens[0]) > 64 || !cmdNameRE.MatchString(tokens[0])) {
		return "", nil, wire.Errf(wire.CodeUnknownCommand, "no command %q; type `help` for the commands", clip(tokens[0]))
	}
	// Any other protocol command, e.g. `log.get {"limit":5}`.
	rest := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(text), tokens[0]))
	if rest == "" {
		return tokens[0], nil, nil
	}
	if !strings.HasPrefix(rest, "{") || !json.Valid([]byte(rest)) {
		return "", nil, wire.Errf(wire.CodeUnknownCommand,
			"no command %q with those words; other protocol commands take one JSON object: %s {\"key\":...}; type `help`", clip(tokens[0]), clip(tokens[0]))
	}
	return tokens[0], json.RawMessage(rest), nil
}

func parseZones(w []string, rest string) (json.RawMessage, *wire.Error) {
	const use = "zones on Z [Z...], zones off Z [Z...] or zones all on|off"
	if len(w) == 0 {
		return nil, usageErr("%s", use)
	}
	if w[0] == "all" {
		if len(w) != 2 || (w[1] != "on" && w[1] != "off") {
			return nil, usageErr("zones all takes on or off: `zones all off`")
		}
		return mustJSON(map[string]bool{"all": w[1] == "on"}), nil
	}
	on, off := []string{}, []string{}
	var cur *[]string
	for _, t := range w {
		switch t {
		case "on":
			cur = &on
		case "off":
			cur = &off
		default:
			if cur == nil {
				return nil, usageErr("%s; %q comes before on or off", use, clip(t))
			}
			*cur = append(*cur, t)
		}
	}
	if len(on) == 0 && len(off) == 0 {
		return nil, usageErr("name the zones: %s", use)
	}
	args := map[string][]string{}
	if len(on) > 0 {
		args["on"] = on
	}
	if len(off) > 0 {
		args["off"] = off
	}
	return mustJSON(args), nil
}

// playKeys are the KEY=VALUE options of `play`, with their JSON kinds.
var playKeys = map[string]string{
	"priority": "string", "origin": "string", "item": "string", "zones": "list",
	"volume": "int", "repeat": "int", "until": "int", "duration_s": "number",
	"replace": "bool", "chime": "bool",
}

var priorities = []string{"background", "normal", "priority", "live", "emergency"}

func parsePlay(w []string, rest string) (json.RawMessage, *wire.Error) {
	if len(w) == 0 || strings.Contains(w[0], "=") {
		return nil, usageErr("play takes a source first: `play tone:440 3`, `play file:NAME`, `play live:CHANNEL`, `play https://...`")
	}
	args := map[string]any{"source": w[0]}
	opts := w[1:]
	if len(opts) > 0 && !strings.Contains(opts[0], "=") {
		d, err := strconv.ParseFloat(opts[0], 64)
		if err != nil {
			return nil, usageErr("play SOURCE DURATION_S: %q is not a number of seconds", clip(opts[0]))
		}
		args["duration_s"] = d
		opts = opts[1:]
	}
	if e := keyValues(opts, playKeys, args); e != nil {
		return nil, e
	}
	return mustJSON(args), nil
}

var stopKeys = map[string]string{"priority": "string", "item": "string"}

func parseStop(w []string, rest string) (json.RawMessage, *wire.Error) {
	args := map[string]any{}
	if len(w) > 0 && !strings.Contains(w[0], "=") {
		if slices.Contains(priorities, w[0]) {
			args["priority"] = w[0]
		} else {
			args["item"] = w[0]
		}
		w = w[1:]
	}
	if e := keyValues(w, stopKeys, args); e != nil {
		return nil, e
	}
	if len(args) == 0 {
		return nil, nil
	}
	return mustJSON(args), nil
}

// keyValues parses KEY=VALUE words into args by the kinds in keys.
func keyValues(words []string, keys map[string]string, args map[string]any) *wire.Error {
	for _, kv := range words {
		k, v, ok := strings.Cut(kv, "=")
		kind, known := keys[k]
		if !ok || !known {
			return usageErr("%q: expected KEY=VALUE with KEY one of %s", clip(kv), strings.Join(slices.Sorted(maps.Keys(keys)), ", "))
		}
		switch kind {
		case "string":
			args[k] = v
		case "list":
			args[k] = strings.Split(v, ",")
		case "int":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return usageErr("%s=%s: expected a whole number", k, clip(v))
			}
			args[k] = n
		case "number":
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return usageErr("%s=%s: expected a number", k, clip(v))
			}
			args[k] = f
		case "bool":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return usageErr("%s=%s: expected true or false", k, clip(v))
			}
			args[k] = b
		}
	}
	return nil
}

func parseConfigSet(w []string, rest string) (json.RawMessage, *wire.Error) {
	if len(w) < 2 {
		return nil, usageErr("config set takes a KEY and a VALUE: `config set mqtt.broker tls://host:8883`")
	}
	key := w[0]
	value := strings.TrimSpace(strings.TrimPrefix(rest, key))
	return mustJSON(map[string]map[string]json.RawMessage{"values": {key: configValue(key, value)}}), nil
}

// configValue reads a human VALUE: JSON when it is a JSON value, else text.
// Secrets are always text unless quoted, so a numeric password stays one.
func configValue(key, v string) json.RawMessage {
	raw := json.RawMessage(v)
	if json.Valid(raw) && (strings.HasPrefix(v, `"`) || !secretKey(key)) {
		return raw
	}
	return mustJSON(v)
}

// secretKey is the default idea of which configuration keys hold secrets,
// used when Options.IsSecret is nil; the agent passes config.IsSecret.
func secretKey(key string) bool {
	return strings.HasSuffix(key, "password") || strings.HasSuffix(key, "_key") || strings.HasSuffix(key, ".secret")
}

func usageErr(format string, a ...any) *wire.Error { return wire.Errf(wire.CodeBadArgs, format, a...) }

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic("console: " + err.Error()) // only maps of strings, numbers and bools
	}
	return b
}

// clip shortens what a user typed for an error message.
func clip(s string) string {
	if len(s) <= 40 {
		return s
	}
	r := []rune(s)
	if len(r) > 40 {
		r = r[:40]
	}
	return string(r) + "…"
}

// helpText renders `help` or `help CMD`.
func helpText(cmd string) (string, *wire.Error) {
	var b strings.Builder
	if cmd == "" {
		b.WriteString("commands (the same as over MQTT; a line starting with '{' is a JSON command document):\n")
		for _, s := range specs {
			lock := " "
			if !s.readOnly {
				lock = "*"
			}
			fmt.Fprintf(&b, " %s %-34s %s\n", lock, s.usage, s.summary)
		}
		b.WriteString("   CMD [JSON-ARGS]                    any other protocol command, e.g. log.get {\"limit\":5}\n")
		b.WriteString("* needs `login` once a console password is set. Ctrl-C cancels a line.\n")
		return b.String(), nil
	}
	s := findSpec(cmd)
	if s == nil {
		for _, x := range specs {
			if strings.Join(x.words, " ") == cmd {
				s = x
			}
		}
	}
	if s == nil {
		return "", wire.Errf(wire.CodeBadArgs, "no command %q; type `help` for the list", clip(cmd))
	}
	fmt.Fprintf(&b, "usage: %s\n%s\n", s.usage, s.summary)
	if s.more != "" {
		b.WriteString(s.more + "\n")
	}
	if !s.readOnly {
		b.WriteString("Needs `login` once a console password is set.\n")
	}
	fmt.Fprintf(&b, "JSON form: {\"id\":\"1\",\"cmd\":%q,\"args\":{...}}\n", s.name)
	return b.String(), nil
}
