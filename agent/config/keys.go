package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
)

// secretKeys are the dotted keys of the fields tagged `secret:"true"`: they
// are never read back nor logged. The tag is the one place a secret is
// declared.
var secretKeys = taggedKeys(reflect.TypeFor[Config](), "")

// taggedKeys walks the struct type t and returns the dotted JSON names of
// the fields tagged secret:"true".
func taggedKeys(t reflect.Type, prefix string) []string {
	var out []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous {
			name = ""
		}
		key := name
		if prefix != "" && name != "" {
			key = prefix + "." + name
		} else if name == "" {
			key = prefix
		}
		switch {
		case f.Tag.Get("secret") == "true":
			out = append(out, key)
		case f.Type.Kind() == reflect.Struct:
			out = append(out, taggedKeys(f.Type, key)...)
		}
	}
	slices.Sort(out)
	return out
}

// fixedKeys cannot be changed over MQTT: changing them would orphan the pole.
// ota.keys is among them: whoever can set it can sign releases; the
// technician sets it, and a signed release can rotate it.
var fixedKeys = []string{"version", "id", "data_dir", "ota.keys"}

// IsSecret reports whether a dotted key holds a secret.
func IsSecret(key string) bool { return slices.Contains(secretKeys, key) }

// Flatten returns the configuration as dotted keys ("mqtt.broker") to leaf
// values. Arrays are leaves. Secrets are included only when withSecrets.
func (c *Config) Flatten(withSecrets bool) map[string]any {
	data, err := json.Marshal(c)
	if err != nil {
		panic(err)
	}
	var tree map[string]any
	if err := json.Unmarshal(data, &tree); err != nil {
		panic(err)
	}
	out := map[string]any{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if m, ok := v.(map[string]any); ok && len(m) > 0 {
			for k, x := range m {
				key := k
				if prefix != "" {
					key = prefix + "." + k
				}
				walk(key, x)
			}
			return
		}
		if !withSecrets && IsSecret(prefix) {
			return
		}
		out[prefix] = v
	}
	walk("", tree)
	return out
}

// SecretsSet lists the secret keys that have a value, so config.get can say
// a password is set without revealing it.
func (c *Config) SecretsSet() []string {
	var out []string
	flat := c.Flatten(true)
	for _, k := range secretKeys {
		if v, ok := flat[k]; ok && !isZero(v) {
			out = append(out, k)
		}
	}
	return out
}

// isZero reports whether a flattened value is empty ("" or an empty list).
func isZero(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case []any:
		return len(x) == 0
	}
	return false
}

// With returns a copy of c with the dotted keys of values changed, validated
// as a whole, and the sorted list of keys whose value really changed. A key
// may name a leaf ("tele_interval"), a zone or input ("hardware.zones.z5",
// null removes it), or a field of one. Nothing is changed unless every key is
// valid.
func (c *Config) With(values map[string]json.RawMessage) (*Config, []string, error) {
	if len(values) == 0 {
		return nil, nil, fmt.Errorf("values is empty: give at least one key")
	}
	data, err := json.Marshal(c)
	if err != nil {
		return nil, nil, err
	}
	var tree map[string]any
	if err := json.Unmarshal(data, &tree); err != nil {
		return nil, nil, err
	}
	before := c.Flatten(true)
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		if slices.Contains(fixedKeys, key) {
			return nil, nil, fmt.Errorf("key %s cannot be changed remotely; the technician sets it on the console", key)
		}
		var v any
		dec := json.NewDecoder(bytes.NewReader(values[key]))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return nil, nil, fmt.Errorf("key %s: value is not JSON: %v", key, err)
		}
		if err := setPath(tree, key, v, before); err != nil {
			return nil, nil, err
		}
	}
	next, err := decodeStrict(tree, "")
	if err != nil {
		// Find the key that is wrong by trying each alone: the error then
		// names the key the operator sent, whatever the Go types inside.
		for _, key := range keys {
			trial, _ := c.treeWith(key, values[key], before)
			if trial == nil {
				continue
			}
			if _, kerr := decodeStrict(trial, key); kerr != nil {
				return nil, nil, kerr
			}
		}
		return nil, nil, err
	}
	if err := next.Validate(); err != nil {
		return nil, nil, err
	}
	after := next.Flatten(true)
	var changed []string
	for k, v := range after {
		if !jsonEqual(before[k], v) {
			changed = append(changed, k)
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			changed = append(changed, k)
		}
	}
	sort.Strings(changed)
	return next, changed, nil
}

// treeWith returns the configuration tree with only key set.
func (c *Config) treeWith(key string, raw json.RawMessage, known map[string]any) (map[string]any, error) {
	data, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	var tree map[string]any
	if err := json.Unmarshal(data, &tree); err != nil {
		return nil, err
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if err := setPath(tree, key, v, known); err != nil {
		return nil, err
	}
	return tree, nil
}

// decodeStrict turns a tree back into a Config, refusing unknown fields and
// wrong types; key, when set, is the key the errors name.
func decodeStrict(tree map[string]any, key string) (*Config, error) {
	data, err := json.Marshal(tree)
	if err != nil {
		return nil, err
	}
	next := &Config{}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(next); err != nil {
		var te *json.UnmarshalTypeError
		name := key
		if asTypeErr(err, &te) {
			if name == "" {
				name = strings.ReplaceAll(te.Field, "Layout.", "")
			}
			return nil, fmt.Errorf("key %s: must be %s, got %s", name, jsonKind(te.Type.String()), te.Value)
		}
		if f, ok := strings.CutPrefix(err.Error(), `json: unknown field "`); ok && name != "" {
			return nil, fmt.Errorf("key %s.%s: no such configuration key", name, strings.TrimSuffix(f, `"`))
		}
		if name != "" {
			return nil, fmt.Errorf("key %s: %v", name, err)
		}
		return nil, fmt.Errorf("values: %v", err)
	}
	return next, nil
}

// setPath sets a dotted key in tree. Only keys that exist, or new entries
// directly under hardware.zones / hardware.inputs, may be set.
func setPath(tree map[string]any, key string, v any, known map[string]any) error {
	parts := strings.Split(key, ".")
	if !knownPrefix(key, known) {
		return fmt.Errorf("key %s: no such configuration key", key)
	}
	m := tree
	for i, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			if m[p] != nil && i < len(parts)-1 {
				return fmt.Errorf("key %s: %s is not a table", key, strings.Join(parts[:i+1], "."))
			}
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	last := parts[len(parts)-1]
	if v == nil {
		if len(parts) == 3 && parts[0] == "hardware" && (parts[1] == "zones" || parts[1] == "inputs") {
			delete(m, last)
			return nil
		}
		return fmt.Errorf("key %s: null is allowed only to remove a zone or an input", key)
	}
	m[last] = v
	return nil
}

func knownPrefix(key string, known map[string]any) bool {
	if _, ok := known[key]; ok {
		return true
	}
	if IsSecret(key) {
		return true
	}
	for k := range known {
		if strings.HasPrefix(k, key+".") {
			return true // a whole table, e.g. "hardware.amp"
		}
	}
	parts := strings.Split(key, ".")
	return len(parts) >= 3 && parts[0] == "hardware" && (parts[1] == "zones" || parts[1] == "inputs")
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func jsonKind(goType string) string {
	switch {
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "an integer"
	case goType == "string":
		return "a string"
	case goType == "bool":
		return "true or false"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	default:
		return "a " + goType
	}
}
