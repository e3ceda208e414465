package watchdog

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loaxa/loaxa/internal/clock"
)

var t0 = time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC)

type span struct {
	from, to time.Duration
	reason   string // for busy spans
}

type scenario struct {
	cfg   Config
	down  []span // when the broker is unreachable
	busy  []span // when an emergency/live item plays or an update runs
	until time.Duration
	// late: the owner first evaluates this long after the link went down.
	late time.Duration
}

type outcome struct {
	steps   []string // "step@offset", and "hold:reason@offset" for withheld reboots
	reports []string // one line per report: its records
	reboots []time.Duration
}

func off(t time.Time) time.Duration { return t.Sub(t0) }

// run plays the owner: it evaluates the ladder when the link goes down or
// comes back, when a busy span ends, and at each Decision.Next, on a fake
// clock, and takes the steps (a reboot is only recorded: the board stays).
func run(t *testing.T, sc scenario) outcome {
	t.Helper()
	l, err := New(sc.cfg)
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(t0)
	var out outcome
	var rebootTimes []time.Time
	var bounds []time.Duration
	for _, s := range append(slices.Clone(sc.down), sc.busy...) {
		bounds = append(bounds, s.from, s.to)
	}
	if len(sc.down) > 0 && sc.late > 0 {
		bounds = slices.DeleteFunc(bounds, func(b time.Duration) bool { return b == sc.down[0].from })
		bounds = append(bounds, sc.down[0].from+sc.late)
	}
	slices.Sort(bounds)
	var next time.Time
	for first := true; ; first = false {
		now := off(clk.Now())
		cand := sc.until + 1
		for _, b := range bounds {
			if b > now || first && b == now {
				cand = min(cand, b)
				break
			}
		}
		if !next.IsZero() && off(next) > now {
			cand = min(cand, off(next))
		}
		if cand > sc.until {
			return out
		}
		clk.Advance(cand - now)
		now = cand
		in := Input{Now: clk.Now(), RebootsToday: CountSince(rebootTimes, clk.Now())}
		for _, d := range sc.down {
			if now >= d.from && now < d.to {
				in.DownSince = t0.Add(d.from)
			}
		}
		for _, b := range sc.busy {
			if now >= b.from && now < b.to {
				in.Busy = b.reason
			}
		}
		dec := l.Evaluate(in)
		next = dec.Next
		if dec.Step != StepNone {
			out.steps = append(out.steps, fmt.Sprintf("%s@%v", dec.Step, now))
			if dec.Step == StepReboot {
				rebootTimes = append(rebootTimes, clk.Now())
				out.reboots = append(out.reboots, now)
			}
		}
		if len(dec.Report) > 0 {
			var recs []string
			for _, r := range dec.Report {
				s := fmt.Sprintf("%s@%v", r.Step, off(r.At))
				if r.Withheld != "" {
					s = "hold:" + r.Withheld + "@" + off(r.At).String()
				}
				recs = append(recs, s)
			}
			out.reports = append(out.reports, strings.Join(recs, " "))
		}
	}
}

func short() Config {
	return Config{Reconnect: 10 * time.Second, Radio: 20 * time.Second, ModemReset: 30 * time.Second, Reboot: 40 * time.Second, MaxRebootsPerDay: 3}
}

func s(d time.Duration) time.Duration { return d * time.Second }

func TestLadder(t *testing.T) {
	forever := 1000 * time.Hour
	tests := []struct {
		name        string
		sc          scenario
		steps       string
		reports     string
		checkOutput func(t *testing.T, o outcome)
	}{
		{
			name:  "each step at its time, then a new round from the radio",
			sc:    scenario{cfg: short(), down: []span{{0, forever, ""}}, until: s(85)},
			steps: "reconnect@10s radio_cycle@20s modem_reset@30s reboot@40s radio_cycle@1m0s modem_reset@1m10s reboot@1m20s",
		},
		{
			name:    "the link comes back: the ladder resets and reports",
			sc:      scenario{cfg: short(), down: []span{{0, s(25), ""}, {s(100), forever, ""}}, until: s(125)},
			steps:   "reconnect@10s radio_cycle@20s reconnect@1m50s radio_cycle@2m0s",
			reports: "reconnect@10s radio_cycle@20s",
		},
		{
			name:    "back before the first step: nothing to report",
			sc:      scenario{cfg: short(), down: []span{{0, s(9), ""}}, until: s(60)},
			steps:   "",
			reports: "",
		},
		{
			name:    "no reboot during an emergency; the reboot comes when it ends",
			sc:      scenario{cfg: short(), down: []span{{0, s(200), ""}}, busy: []span{{s(35), s(100), "emergency"}}, until: s(201)},
			steps:   "reconnect@10s radio_cycle@20s modem_reset@30s reboot@1m40s radio_cycle@2m0s modem_reset@2m10s reboot@2m20s radio_cycle@2m40s modem_reset@2m50s reboot@3m0s",
			reports: "reconnect@10s radio_cycle@20s modem_reset@30s hold:emergency@40s reboot@1m40s radio_cycle@2m0s modem_reset@2m10s reboot@2m20s radio_cycle@2m40s modem_reset@2m50s reboot@3m0s",
		},
		{
			name:    "three reboots a day, then the limit holds",
			sc:      scenario{cfg: short(), down: []span{{0, s(230), ""}}, until: s(231)},
			steps:   "reconnect@10s radio_cycle@20s modem_reset@30s reboot@40s radio_cycle@1m0s modem_reset@1m10s reboot@1m20s radio_cycle@1m40s modem_reset@1m50s reboot@2m0s radio_cycle@2m20s modem_reset@2m30s radio_cycle@3m0s modem_reset@3m10s radio_cycle@3m40s",
			reports: "reconnect@10s radio_cycle@20s modem_reset@30s reboot@40s radio_cycle@1m0s modem_reset@1m10s reboot@1m20s radio_cycle@1m40s modem_reset@1m50s reboot@2m0s radio_cycle@2m20s modem_reset@2m30s hold:limit@2m40s radio_cycle@3m0s modem_reset@3m10s hold:limit@3m20s radio_cycle@3m40s",
		},
		{
			name:  "live then update: one hold per reason, modem reset still taken",
			sc:    scenario{cfg: short(), down: []span{{0, forever, ""}}, busy: []span{{s(25), s(50), "live"}, {s(50), s(70), "update"}}, until: s(75)},
			steps: "reconnect@10s radio_cycle@20s modem_reset@30s reboot@1m10s",
			checkOutput: func(t *testing.T, o outcome) {
				if len(o.reboots) != 1 || o.reboots[0] != s(70) {
					t.Errorf("reboots %v, want one at 70s (when the update ended)", o.reboots)
				}
			},
		},
		{
			name:  "a late owner takes only the highest step due",
			sc:    scenario{cfg: short(), down: []span{{0, forever, ""}}, late: s(35), until: s(45)},
			steps: "modem_reset@35s reboot@40s",
		},
		{
			name:  "late and busy: the modem reset below the withheld reboot",
			sc:    scenario{cfg: short(), down: []span{{0, forever, ""}}, busy: []span{{0, forever, "emergency"}}, late: s(45), until: s(200)},
			steps: "modem_reset@45s",
		},
		{
			name:  "no reboots allowed: the ladder keeps cycling the modem",
			sc:    scenario{cfg: Config{Reconnect: s(10), Radio: s(20), ModemReset: s(30), Reboot: s(40), MaxRebootsPerDay: 0}, down: []span{{0, forever, ""}}, until: s(125)},
			steps: "reconnect@10s radio_cycle@20s modem_reset@30s radio_cycle@1m0s modem_reset@1m10s radio_cycle@1m40s modem_reset@1m50s",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := run(t, tt.sc)
			if got := strings.Join(o.steps, " "); got != tt.steps {
				t.Errorf("steps\n got %s\nwant %s", got, tt.steps)
			}
			if tt.reports != "" || len(o.reports) > 0 {
				if got := strings.Join(o.reports, " | "); got != tt.reports {
					t.Errorf("reports\n got %s\nwant %s", got, tt.reports)
				}
			}
			if tt.checkOutput != nil {
				tt.checkOutput(t, o)
			}
		})
	}
}

// Over two days cut off, with the default thresholds and one reboot a
// day, no 24 hours ever hold two reboots, and the second day gets its
// reboot.
func TestRebootLimitHeldAcrossADay(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxRebootsPerDay = 1
	o := run(t, scenario{cfg: cfg, down: []span{{0, 1000 * time.Hour, ""}}, until: 48 * time.Hour})
	if len(o.reboots) != 2 {
		t.Fatalf("reboots at %v: want two in 48 hours", o.reboots)
	}
	if o.reboots[0] != time.Hour {
		t.Errorf("first reboot at %v, want 1h", o.reboots[0])
	}
	if gap := o.reboots[1] - o.reboots[0]; gap < 24*time.Hour || gap > 26*time.Hour {
		t.Errorf("second reboot %v after the first: want just over 24h", gap)
	}
	radios := 0
	for _, st := range o.steps {
		if strings.HasPrefix(st, "radio_cycle") {
			radios++
		}
	}
	if radios < 24 {
		t.Errorf("%d radio cycles in two days: the ladder should keep trying without rebooting", radios)
	}
}

func TestConfigCheck(t *testing.T) {
	if err := DefaultConfig().Check(); err != nil {
		t.Fatal(err)
	}
	if err := short().Check(); err != nil {
		t.Fatalf("10 s steps must be allowed for tests: %v", err)
	}
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"too short", func(c *Config) { c.Reconnect = 9 * time.Second }, "watchdog.reconnect_s"},
		{"out of order", func(c *Config) { c.ModemReset = c.Radio }, "watchdog.modem_reset_s"},
		{"reboot before reset", func(c *Config) { c.Reboot = 25 * time.Second }, "watchdog.reboot_s"},
		{"negative limit", func(c *Config) { c.MaxRebootsPerDay = -1 }, "watchdog.max_reboots_per_day"},
		{"absurd limit", func(c *Config) { c.MaxRebootsPerDay = 100 }, "watchdog.max_reboots_per_day"},
	}
	for _, tt := range tests {
		c := short()
		tt.edit(&c)
		err := c.Check()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want one naming %s", tt.name, err, tt.want)
		}
		if _, err := New(c); err == nil {
			t.Errorf("%s: New accepted it", tt.name)
		}
	}
}

func TestFailedAndPending(t *testing.T) {
	l, _ := New(short())
	down := t0
	l.Evaluate(Input{Now: t0.Add(s(10)), DownSince: down})
	d := l.Evaluate(Input{Now: t0.Add(s(20)), DownSince: down})
	if d.Step != StepRadioCycle {
		t.Fatalf("step %v", d.Step)
	}
	l.Failed(StepRadioCycle, errors.New("modem: AT+CFUN=0: no final result code within 15s"))
	l.Failed(StepRadioCycle, nil)
	p := l.Pending()
	if len(p) != 2 || p[1].Err == "" || p[0].Err != "" || !p[1].DownSince.Equal(down) {
		t.Errorf("pending %+v", p)
	}
	d = l.Evaluate(Input{Now: t0.Add(s(21))})
	if len(d.Report) != 2 || !d.Next.IsZero() || d.Step != StepNone {
		t.Errorf("on link back: %+v", d)
	}
	if len(l.Pending()) != 0 {
		t.Error("records kept after the report")
	}
}

func TestRecordsAreBounded(t *testing.T) {
	cfg := short()
	cfg.MaxRebootsPerDay = 0
	o := run(t, scenario{cfg: cfg, down: []span{{0, 100 * time.Hour, ""}}, until: 100*time.Hour + time.Second})
	if len(o.reports) != 1 {
		t.Fatalf("%d reports", len(o.reports))
	}
	if n := len(strings.Fields(o.reports[0])); n != maxRecords {
		t.Errorf("report of %d records, want %d", n, maxRecords)
	}
}

func TestCountSince(t *testing.T) {
	now := t0.Add(48 * time.Hour)
	times := []time.Time{t0, now.Add(-25 * time.Hour), now.Add(-23 * time.Hour), now.Add(-time.Minute), now.Add(time.Hour)}
	if n := CountSince(times, now); n != 3 {
		t.Errorf("CountSince = %d, want 3", n)
	}
}
