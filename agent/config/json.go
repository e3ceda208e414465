package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
)

// FromJSON builds a whole configuration from its JSON form, nested as the
// field tags say ({"id":"pole-1","mqtt":{"broker":"tls://host:8883"}}), as
// `provision` sends it. Keys left out keep their default; a document that
// names hardware.zones or hardware.inputs replaces the default ones rather
// than adding to them (as a TOML file does). Unknown keys, wrong types and
// invalid values are errors naming the dotted key; the result is validated.
func FromJSON(data []byte) (*Config, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var tree map[string]any
	if err := dec.Decode(&tree); err != nil || tree == nil {
		return nil, errors.New("the configuration must be one JSON object")
	}
	if dec.More() {
		return nil, errors.New("trailing data after the configuration object")
	}
	if err := checkPaths(tree, reflect.TypeFor[Config](), ""); err != nil {
		return nil, err
	}
	c := Default()
	if hw, ok := tree["hardware"].(map[string]any); ok {
		if _, ok := hw["zones"]; ok {
			c.Hardware.Zones = nil
		}
		if _, ok := hw["inputs"]; ok {
			c.Hardware.Inputs = nil
		}
	}
	strict := json.NewDecoder(bytes.NewReader(data))
	strict.DisallowUnknownFields()
	if err := strict.Decode(c); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("key %s: must be %s, got %s", strings.ReplaceAll(te.Field, "Layout.", ""), jsonKind(te.Type.String()), te.Value)
		}
		return nil, fmt.Errorf("configuration: %v", err)
	}
	if c.Version > Version {
		return nil, fmt.Errorf("key version: the document is version %d, this agent reads up to %d", c.Version, Version)
	}
	c.Version = Version
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// checkPaths finds the first key of tree that the configuration type t has
// no field for, so the error names it ("key mqtt.brokr"); the JSON decoder
// would only name its last part.
func checkPaths(v any, t reflect.Type, prefix string) error {
	switch x := v.(type) {
	case map[string]any:
		switch t.Kind() {
		case reflect.Struct:
			fields := jsonFields(t)
			for _, k := range slices.Sorted(maps.Keys(x)) {
				ft, ok := fields[k]
				if !ok {
					return fmt.Errorf("key %s: no such configuration key", joinKey(prefix, k))
				}
				if err := checkPaths(x[k], ft, joinKey(prefix, k)); err != nil {
					return err
				}
			}
		case reflect.Map:
			for _, k := range slices.Sorted(maps.Keys(x)) {
				if err := checkPaths(x[k], t.Elem(), joinKey(prefix, k)); err != nil {
					return err
				}
			}
		}
	case []any:
		if t.Kind() == reflect.Slice {
			for i, e := range x {
				if err := checkPaths(e, t.Elem(), fmt.Sprintf("%s[%d]", prefix, i)); err != nil {
					return err
				}
			}
		}
	}
	return nil // a leaf, or a value of the wrong kind: the decoder names it
}

// jsonFields maps the JSON names of a struct's fields to their types, with
// the fields of embedded structs (hal.Layout in Hardware) promoted.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && name == "" {
			maps.Copy(out, jsonFields(f.Type))
			continue
		}
		if name != "" && name != "-" && f.IsExported() {
			out[name] = f.Type
		}
	}
	return out
}

func joinKey(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}
