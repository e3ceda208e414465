package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// watching starts `loaxactl watch ...` and waits until it has subscribed.
func (h *harness) watching(args ...string) *running {
	h.t.Helper()
	r := h.start(append([]string{"watch"}, args...)...)
	waitFor(h.t, "watch to subscribe", func() bool { return strings.Contains(r.stderr.String(), "watching") })
	return r
}

// publishAndRead publishes one message and returns the line watch prints
// for it. Publishing one at a time keeps the output order the test's.
func publishAndRead(t *testing.T, r *running, pub func(string, bool, string), topic, payload string) string {
	t.Helper()
	n := len(r.stdout.lines())
	pub(topic, false, payload)
	waitFor(t, "a line for "+topic, func() bool { return len(r.stdout.lines()) > n })
	return r.stdout.lines()[n]
}

func TestWatchFormatsEachKind(t *testing.T) {
	h := newHarness(t)
	pub := newPublisher(t, h)
	// Retained before watch starts, as a pole's status is.
	pub("loaxa/v1/dev/pole-1/status", true, `{"online":true,"session":3,"version":"0.4.0","since":1764061200000,"ts":1764061200000}`)
	r := h.watching()
	waitFor(t, "the retained status", func() bool { return len(r.stdout.lines()) == 1 })
	if got, want := r.stdout.lines()[0], "09:00:00 pole-1           status online session 3 version 0.4.0"; got != want {
		t.Errorf("retained status:\n got %q\nwant %q", got, want)
	}

	tests := []struct {
		name, topic, payload, want string
	}{
		{"status offline", "loaxa/v1/dev/pole-1/status",
			`{"online":false,"session":3,"version":"0.4.0","since":1764061200000,"ts":1764064799000}`,
			"09:59:59 pole-1           status offline session 3 version 0.4.0"},
		{"state idle", "loaxa/v1/dev/pole-1/state",
			`{"ts":1764064800000,"id":"pole-1","version":"0.4.0","zones":{"z2":false,"z1":true},"volume":60,"amp":{"power":false},"playing":null,"queue":[],"alarms":[]}`,
			"10:00:00 pole-1           state  zones z1=on z2=off volume 60 amp off idle"},
		{"state playing with alarms", "loaxa/v1/dev/pole-22/state",
			`{"ts":1764064800000,"zones":{"z1":true},"volume":80,"amp":{"power":true},` +
				`"playing":{"item":"i-1","source":"file:news.mp3","priority":"priority","zones":["z1"],"since":1},` +
				`"queue":[{"item":"i-2","source":"tone:440","priority":"normal","zones":[],"since":0}],` +
				`"alarms":[{"name":"tamper","since":1},{"name":"mains","since":2}],"hardware":{"modem":"absent"}}`,
			"10:00:00 pole-22          state  zones z1=on volume 80 amp on playing file:news.mp3 (priority) queue 1 alarms tamper,mains degraded modem=absent"},
		{"tele", "loaxa/v1/dev/pole-1/tele",
			`{"ts":1764064800000,"uptime_s":12345,"cpu_temp_c":48.5,"load1":0.42,"modem":{"rssi_dbm":-71}}`,
			"10:00:00 pole-1           tele   up 3h25m45s temp 48.5C rssi -71dBm load 0.42"},
		{"tele unknowns", "loaxa/v1/dev/pole-1/tele",
			`{"ts":1764064800000,"uptime_s":5,"cpu_temp_c":null,"load1":null,"modem":{"rssi_dbm":null}}`,
			"10:00:00 pole-1           tele   up 5s temp ? rssi ? load ?"},
		{"event", "loaxa/v1/dev/pole-1/event",
			`{"ts":1764064800000,"type":"alarm","data":{"name":"tamper","detail":"cabinet door open","since":1764064800000}}`,
			`10:00:00 pole-1           event  alarm detail="cabinet door open" name=tamper since=1764064800000`},
		{"ack ok", "loaxa/v1/dev/pole-1/ack",
			`{"id":"c-9","cmd":"volume","ok":true,"result":{"volume":60},"ts":1764064800000}`,
			`10:00:00 pole-1           ack    c-9 volume ok {"volume":60}`},
		{"ack error", "loaxa/v1/dev/pole-1/ack",
			`{"id":"c-10","cmd":"play","ok":false,"error":{"code":"busy","message":"emergency is playing"},"ts":1764064800000}`,
			"10:00:00 pole-1           ack    c-10 play error busy: emergency is playing"},
		{"yesterday shows the date", "loaxa/v1/dev/pole-1/event",
			`{"ts":1764028799000,"type":"started"}`,
			"2025-11-24 23:59:59 pole-1           event  started"},
		{"no ts shows now", "loaxa/v1/dev/pole-1/event",
			`{"type":"started"}`,
			"10:00:00 pole-1           event  started"},
		{"not JSON", "loaxa/v1/dev/pole-1/tele",
			`garbage`,
			"10:00:00 pole-1           tele   (not JSON) garbage"},
		{"wrong shape", "loaxa/v1/dev/pole-1/state",
			`{"zones":["z1"]}`,
			"10:00:00 pole-1           state  (unexpected state document: json: cannot unmarshal array into Go struct field State.zones of type map[string]bool) {\"zones\":[\"z1\"]}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := publishAndRead(t, r, pub, tt.topic, tt.payload); got != tt.want {
				t.Errorf("\n got %q\nwant %q", got, tt.want)
			}
		})
	}

	r.cancel()
	if code, _, _ := r.wait(); code != ExitOK {
		t.Errorf("watch ended by Ctrl-C exited %d, want 0", code)
	}
}

func TestWatchOneDevice(t *testing.T) {
	h := newHarness(t)
	pub := newPublisher(t, h)
	r := h.watching("pole-1")
	pub("loaxa/v1/dev/pole-2/event", false, `{"ts":1764064800000,"type":"started"}`)
	pub("loaxa/v1/dev/pole-1/cmd", false, `{"id":"x","cmd":"ping"}`)
	got := publishAndRead(t, r, pub, "loaxa/v1/dev/pole-1/event", `{"ts":1764064800000,"type":"started"}`)
	if !strings.Contains(got, "pole-1") || len(r.stdout.lines()) != 1 {
		t.Errorf("watch pole-1 printed:\n%s\nwant only pole-1's event", r.stdout)
	}
}

func TestWatchJSON(t *testing.T) {
	h := newHarness(t)
	pub := newPublisher(t, h)
	pub("loaxa/v1/dev/pole-1/status", true, `{"online":true,"session":1}`)
	r := h.watching("--json")
	waitFor(t, "the retained status", func() bool { return len(r.stdout.lines()) == 1 })
	got := publishAndRead(t, r, pub, "loaxa/v1/dev/pole-1/tele", "not { json")

	want := []string{
		`{"topic":"loaxa/v1/dev/pole-1/status","device":"pole-1","kind":"status","retained":true,"payload":{"online":true,"session":1}}`,
		`{"topic":"loaxa/v1/dev/pole-1/tele","device":"pole-1","kind":"tele","retained":false,"payload":"not { json"}`,
	}
	if lines := r.stdout.lines(); lines[0] != want[0] || got != want[1] {
		t.Errorf("got\n%s\nwant\n%s", r.stdout, strings.Join(want, "\n"))
	}
	for _, l := range r.stdout.lines() {
		if !json.Valid([]byte(l)) {
			t.Errorf("not one JSON document per line: %s", l)
		}
	}
}

// A watch left open on a wall screen must survive a broker restart.
func TestWatchRidesOutBrokerRestart(t *testing.T) {
	h := newHarness(t)
	r := h.watching()
	h.b.Restart()
	waitFor(t, "watch to resubscribe", func() bool { return strings.Contains(r.stderr.String(), "reconnected; watching every device again") })
	pub := newPublisher(t, h)
	got := publishAndRead(t, r, pub, "loaxa/v1/dev/pole-1/event", `{"ts":1764064800000,"type":"started"}`)
	if want := "10:00:00 pole-1           event  started"; got != want {
		t.Errorf("after the restart:\n got %q\nwant %q\nbroker log:\n%s", got, want, h.b.Log())
	}
	if !strings.Contains(r.stderr.String(), "connection lost") {
		t.Errorf("stderr does not say the connection was lost:\n%s", r.stderr)
	}
}
