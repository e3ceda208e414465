package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/loaxa/loaxa/agent/wire"
)

// ackDoc is an ack as read back for rendering.
type ackDoc struct {
	ID     string          `json:"id"`
	Cmd    string          `json:"cmd"`
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result"`
	Error  *wire.Error     `json:"error"`
}

// renderAck renders an ack document for a person: "ok" or
// "error CODE: message", then the result as "key: value" lines.
func renderAck(ack []byte) string {
	var a ackDoc
	if err := json.Unmarshal(ack, &a); err != nil {
		return fmt.Sprintf("error internal: the agent's answer is not an ack (%v)\n", err)
	}
	var b strings.Builder
	switch {
	case a.OK:
		b.WriteString("ok\n")
	case a.Error != nil:
		fmt.Fprintf(&b, "error %s: %s\n", safe(string(a.Error.Code)), safe(a.Error.Message))
	default:
		b.WriteString("error internal: the answer has neither ok nor an error\n")
	}
	renderResult(&b, a.Result)
	return b.String()
}

// renderResult writes a result document as "key: value" lines.
func renderResult(b *strings.Builder, raw json.RawMessage) {
	if len(bytes.TrimSpace(raw)) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return
	}
	if m, ok := v.(map[string]any); ok && len(m) > 0 {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			renderValue(b, k, m[k])
		}
		return
	}
	renderValue(b, "result", v)
}

func renderValue(b *strings.Builder, key string, v any) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			fmt.Fprintf(b, "%s: none\n", safe(key))
			return
		}
		if allBool(x) {
			parts := make([]string, 0, len(x))
			for _, k := range slices.Sorted(maps.Keys(x)) {
				parts = append(parts, safe(k)+" "+onOff(x[k].(bool)))
			}
			fmt.Fprintf(b, "%s: %s\n", safe(key), strings.Join(parts, ", "))
			return
		}
		for _, k := range slices.Sorted(maps.Keys(x)) {
			renderValue(b, key+"."+k, x[k])
		}
	case []any:
		if len(x) == 0 {
			fmt.Fprintf(b, "%s: none\n", safe(key))
			return
		}
		if allScalar(x) {
			parts := make([]string, len(x))
			for i, e := range x {
				parts[i] = scalar(e)
			}
			fmt.Fprintf(b, "%s: %s\n", safe(key), strings.Join(parts, ", "))
			return
		}
		for i, e := range x {
			renderValue(b, fmt.Sprintf("%s[%d]", key, i), e)
		}
	default:
		fmt.Fprintf(b, "%s: %s\n", safe(key), scalar(x))
	}
}

func allBool(m map[string]any) bool {
	for _, v := range m {
		if _, ok := v.(bool); !ok {
			return false
		}
	}
	return true
}

func allScalar(s []any) bool {
	for _, v := range s {
		switch v.(type) {
		case map[string]any, []any:
			return false
		}
	}
	return true
}

func scalar(v any) string {
	switch x := v.(type) {
	case nil:
		return "none"
	case string:
		return safe(x)
	case bool:
		return strconv.FormatBool(x)
	case json.Number:
		return x.String()
	default:
		return safe(fmt.Sprint(x))
	}
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// safe keeps text from the agent (stream titles come from the Internet)
// from driving the technician's terminal: control characters are quoted.
func safe(s string) string {
	for _, r := range s {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			q := strconv.QuoteToASCII(s)
			return q[1 : len(q)-1]
		}
	}
	return s
}

// accessState is the console's side of the banner.
type accessState struct {
	PasswordSet bool `json:"password_set"`
	LoggedIn    bool `json:"logged_in"`
	IdleS       int  `json:"idle_s"`
}

// renderBanner renders the banner for a person.
func renderBanner(bn Banner, acc accessState) string {
	var b strings.Builder
	id := bn.ID
	if id == "" {
		id = "(no id yet: provision this board)"
	}
	fmt.Fprintf(&b, "loaxa pole %s, firmware %s\n", safe(id), safe(orUnknown(bn.Version)))
	if bn.IMEI == "" && bn.ICCID == "" {
		b.WriteString("modem:   none found\n")
	} else {
		fmt.Fprintf(&b, "modem:   IMEI %s, ICCID %s\n", safe(orUnknown(bn.IMEI)), safe(orUnknown(bn.ICCID)))
	}
	link := "not connected"
	if bn.Connected {
		link = "connected"
	}
	if bn.Link != "" {
		link += " (" + safe(bn.Link) + ")"
	}
	fmt.Fprintf(&b, "broker:  %s, %s\n", safe(orUnknown(bn.Broker)), link)
	if len(bn.Zones) == 0 {
		b.WriteString("zones:   none\n")
	} else {
		parts := make([]string, 0, len(bn.Zones))
		for _, z := range slices.Sorted(maps.Keys(bn.Zones)) {
			parts = append(parts, safe(z)+" "+onOff(bn.Zones[z]))
		}
		fmt.Fprintf(&b, "zones:   %s\n", strings.Join(parts, ", "))
	}
	if len(bn.Alarms) == 0 {
		b.WriteString("alarms:  none\n")
	} else {
		parts := make([]string, len(bn.Alarms))
		for i, a := range bn.Alarms {
			parts[i] = safe(a.Name)
			if a.Detail != "" {
				parts[i] += " (" + safe(a.Detail) + ")"
			}
		}
		fmt.Fprintf(&b, "alarms:  %s\n", strings.Join(parts, ", "))
	}
	switch {
	case !acc.PasswordSet:
		b.WriteString("console: no password set (blank board): every command is allowed\n")
	case acc.LoggedIn:
		b.WriteString("console: logged in\n")
	default:
		b.WriteString("console: read-only; type `login` to change anything\n")
	}
	b.WriteString("type `help` for the commands\n")
	return b.String()
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
