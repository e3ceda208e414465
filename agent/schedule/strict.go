package schedule

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// maxDepth bounds the nesting of a document: a schedule needs 3 levels
// (document, items, item fields and their lists); anything deeper is not a
// schedule and must not cost a deep recursion to find out.
const maxDepth = 8

// jsonPath is where a token sits: object keys and array indexes.
type jsonPath []string

func (p jsonPath) String() string {
	var b strings.Builder
	for i, s := range p {
		if _, err := strconv.Atoi(s); err == nil {
			b.WriteString("[" + s + "]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s)
	}
	return b.String()
}

// itemIndex reports the item a path is inside ("items", "3", ...), or -1.
func (p jsonPath) itemIndex() (int, string) {
	if len(p) >= 2 && p[0] == "items" {
		if i, err := strconv.Atoi(p[1]); err == nil {
			return i, jsonPath(p[2:]).String()
		}
	}
	return -1, p.String()
}

// dupKeyError is a key given twice in one object: encoding/json would keep
// the last silently, so an operator could not tell which value the pole uses.
type dupKeyError struct {
	path jsonPath // of the duplicated key
}

func (e *dupKeyError) Error() string {
	return fmt.Sprintf("key %q is given twice", e.path[len(e.path)-1])
}

// checkStructure walks the JSON tokens of data once: exactly one value,
// no duplicate key in any object, nesting at most maxDepth. It does not
// build the value.
func checkStructure(data []byte) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	type frame struct {
		object bool
		keys   map[string]struct{}
		index  int
		// wantKey: inside an object, the next token is a key.
		wantKey bool
	}
	var stack []*frame
	var path jsonPath
	// value is called after a complete value: it moves the enclosing
	// container to its next key or index.
	value := func() {
		if len(stack) == 0 {
			return
		}
		f := stack[len(stack)-1]
		path = path[:len(path)-1]
		if f.object {
			f.wantKey = true
		} else {
			f.index++
			path = append(path, strconv.Itoa(f.index))
		}
	}
	for started := false; !started || len(stack) > 0; started = true {
		tok, err := d.Token()
		if err == io.EOF {
			return errors.New("not valid JSON: the document ends inside a value")
		}
		if err != nil {
			return fmt.Errorf("not valid JSON: %w", err)
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.wantKey {
			if delim, ok := tok.(json.Delim); ok && delim == '}' {
				stack = stack[:len(stack)-1]
				value()
				continue
			}
			key := tok.(string) // the decoder guarantees a string key here
			path = append(path, key)
			if _, dup := top.keys[key]; dup {
				return &dupKeyError{path: append(jsonPath(nil), path...)}
			}
			top.keys[key] = struct{}{}
			top.wantKey = false
			continue
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if len(stack) >= maxDepth {
				return fmt.Errorf("nested deeper than %d levels at %s", maxDepth, path)
			}
			f := &frame{object: tok == json.Delim('{')}
			if f.object {
				f.keys = map[string]struct{}{}
				f.wantKey = true
			} else {
				path = append(path, "0")
			}
			stack = append(stack, f)
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
			path = path[:len(path)-1]
			value()
		default:
			value()
		}
	}
	if len(bytes.TrimSpace(data[d.InputOffset():])) > 0 {
		return errors.New("trailing data after the JSON document")
	}
	return nil
}
