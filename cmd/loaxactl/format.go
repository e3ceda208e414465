package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/loaxa/loaxa/agent/wire"
)

// formatLine is watch's human form of one message: when, which device,
// what kind, and the few facts an operator scans for.
func (c *CLI) formatLine(device, kind string, payload []byte) string {
	var head struct {
		TS int64 `json:"ts"`
	}
	summary, err := summarize(kind, payload)
	switch {
	case err == nil:
		_ = json.Unmarshal(payload, &head)
	case !json.Valid(payload):
		summary = "(not JSON) " + shorten(string(payload), 80)
	default:
		summary = fmt.Sprintf("(unexpected %s document: %v) %s", kind, err, shorten(string(payload), 80))
	}
	return fmt.Sprintf("%s %-16s %-6s %s", c.stamp(head.TS), device, kind, summary)
}

// stamp shows when the device said a message happened (its ts), which for
// retained status and state can be long before now; the date is shown only
// when it is not today.
func (c *CLI) stamp(ms int64) string {
	now := c.Clock.Now().In(c.Location)
	t := now
	if ms > 0 {
		t = time.UnixMilli(ms).In(c.Location)
	}
	if y, m, d := t.Date(); y == now.Year() && m == now.Month() && d == now.Day() {
		return t.Format("15:04:05")
	}
	return t.Format("2006-01-02 15:04:05")
}

func summarize(kind string, payload []byte) (string, error) {
	switch kind {
	case "status":
		var s wire.Status
		if err := json.Unmarshal(payload, &s); err != nil {
			return "", err
		}
		return summarizeStatus(&s), nil
	case "state":
		var s wire.State
		if err := json.Unmarshal(payload, &s); err != nil {
			return "", err
		}
		return summarizeState(&s), nil
	case "tele":
		var t wire.Tele
		if err := json.Unmarshal(payload, &t); err != nil {
			return "", err
		}
		return summarizeTele(&t), nil
	case "event":
		var e wire.Event
		if err := json.Unmarshal(payload, &e); err != nil {
			return "", err
		}
		return summarizeEvent(&e), nil
	case "ack":
		a, err := decodeAck("", payload)
		if err != nil {
			return "", err
		}
		return summarizeAck(a), nil
	}
	var v any
	if err := json.Unmarshal(payload, &v); err != nil {
		return "", err
	}
	return compact(payload), nil
}

func summarizeStatus(s *wire.Status) string {
	var b strings.Builder
	if s.Online {
		b.WriteString("online")
	} else {
		b.WriteString("offline")
	}
	fmt.Fprintf(&b, " session %d", s.Session)
	if s.Version != "" {
		b.WriteString(" version " + s.Version)
	}
	return b.String()
}

func summarizeState(s *wire.State) string {
	var b strings.Builder
	b.WriteString("zones")
	if len(s.Zones) == 0 {
		b.WriteString(" none")
	}
	for _, z := range slices.Sorted(maps.Keys(s.Zones)) {
		fmt.Fprintf(&b, " %s=%s", z, onOff(s.Zones[z]))
	}
	fmt.Fprintf(&b, " volume %d amp %s", s.Volume, onOff(s.Amp.Power))
	if p := s.Playing; p != nil {
		fmt.Fprintf(&b, " playing %s (%s)", p.Source, p.Priority)
	} else {
		b.WriteString(" idle")
	}
	if len(s.Queue) > 0 {
		fmt.Fprintf(&b, " queue %d", len(s.Queue))
	}
	if len(s.Alarms) > 0 {
		names := make([]string, len(s.Alarms))
		for i, a := range s.Alarms {
			names[i] = a.Name
		}
		b.WriteString(" alarms " + strings.Join(names, ","))
	}
	if len(s.Hardware) > 0 {
		parts := make([]string, 0, len(s.Hardware))
		for _, k := range slices.Sorted(maps.Keys(s.Hardware)) {
			parts = append(parts, k+"="+s.Hardware[k])
		}
		b.WriteString(" degraded " + strings.Join(parts, ","))
	}
	return b.String()
}

func summarizeTele(t *wire.Tele) string {
	up := (time.Duration(t.UptimeS) * time.Second).String()
	temp, rssi, load := "?", "?", "?"
	if t.CPUTempC != nil {
		temp = strconv.FormatFloat(*t.CPUTempC, 'f', 1, 64) + "C"
	}
	if t.Modem.RSSIdBm != nil {
		rssi = strconv.FormatFloat(*t.Modem.RSSIdBm, 'f', -1, 64) + "dBm"
	}
	if t.Load1 != nil {
		load = strconv.FormatFloat(*t.Load1, 'f', 2, 64)
	}
	return fmt.Sprintf("up %s temp %s rssi %s load %s", up, temp, rssi, load)
}

func summarizeEvent(e *wire.Event) string {
	var b strings.Builder
	b.WriteString(e.Type)
	if b.Len() == 0 {
		b.WriteString("(no type)")
	}
	for _, k := range slices.Sorted(maps.Keys(e.Data)) {
		b.WriteString(" " + k + "=" + value(e.Data[k]))
	}
	return shorten(b.String(), 200)
}

func summarizeAck(a *ack) string {
	if !a.OK {
		return fmt.Sprintf("%s %s error %s", a.ID, a.Cmd, errText(a.Error))
	}
	s := fmt.Sprintf("%s %s ok", a.ID, a.Cmd)
	if r := compact(a.result); r != "" {
		s += " " + shorten(r, 120)
	}
	return s
}

// value shows an event field: plain when it is a simple word, quoted when
// it has spaces, JSON otherwise.
func value(v any) string {
	if s, ok := v.(string); ok {
		if s == "" || strings.ContainsAny(s, " \t\n\"=") {
			return strconv.Quote(s)
		}
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
