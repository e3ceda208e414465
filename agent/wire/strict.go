package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// maxDepth bounds the nesting of a command document; deeper is refused
// before encoding/json sees it.
const maxDepth = 32

// checkObjectKeys walks a JSON document and refuses an object that has the
// same key twice: encoding/json keeps the last value, so
// {"cmd":"ping","cmd":"reboot"} would reboot while a log or a proxy that
// keeps the first would show a ping.
func checkObjectKeys(data []byte) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	type frame struct {
		keys   map[string]bool
		object bool
		expect bool // object: the next string token is a key
	}
	var stack []frame
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		top := len(stack) - 1
		if delim, ok := tok.(json.Delim); ok {
			switch delim {
			case '{', '[':
				if top >= 0 && stack[top].object {
					stack[top].expect = true
				}
				if len(stack) >= maxDepth {
					return fmt.Errorf("nested deeper than %d levels", maxDepth)
				}
				stack = append(stack, frame{object: delim == '{', expect: delim == '{', keys: map[string]bool{}})
			case '}', ']':
				stack = stack[:top]
				if top > 0 && stack[top-1].object {
					stack[top-1].expect = true
				}
			}
			continue
		}
		if top < 0 || !stack[top].object {
			continue
		}
		if stack[top].expect {
			key, _ := tok.(string)
			if stack[top].keys[key] {
				return fmt.Errorf("key %q appears twice", truncateKey(key))
			}
			stack[top].keys[key] = true
			stack[top].expect = false
			continue
		}
		stack[top].expect = true // a value: a key comes next
	}
}

func truncateKey(k string) string {
	if len(k) > 40 {
		return k[:40] + "…"
	}
	return k
}
