package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/loaxa/loaxa/agent/config"
	"github.com/loaxa/loaxa/agent/console"
	"github.com/loaxa/loaxa/agent/wire"
)

func (a *Agent) cmdPing(c *wire.Command) (any, *wire.Error) {
	if e := wire.DecodeArgs(c.Args, &struct{}{}); e != nil {
		return nil, e
	}
	return map[string]any{"version": a.opts.Version, "uptime_s": a.uptime()}, nil
}

func (a *Agent) cmdStatus(c *wire.Command) (any, *wire.Error) {
	if e := wire.DecodeArgs(c.Args, &struct{}{}); e != nil {
		return nil, e
	}
	return a.state(), nil
}

type zonesArgs struct {
	On  []string `json:"on"`
	Off []string `json:"off"`
	All *bool    `json:"all"`
}

// cmdZones switches speaker-zone relays. The whole request is validated
// before any relay moves; if a relay fails, the ones already switched are
// put back, so the command either happens entirely or not at all.
func (a *Agent) cmdZones(c *wire.Command) (any, *wire.Error) {
	var args zonesArgs
	if e := wire.DecodeArgs(c.Args, &args); e != nil {
		return nil, e
	}
	want := maps.Clone(a.zones)
	switch {
	case args.All != nil && (args.On != nil || args.Off != nil):
		return nil, wire.Errf(wire.CodeBadArgs, `give either "all" or "on"/"off", not both`)
	case args.All != nil:
		for z := range want {
			want[z] = *args.All
		}
	case len(args.On) == 0 && len(args.Off) == 0:
		return nil, wire.Errf(wire.CodeBadArgs, `nothing to switch: give "on", "off" or "all"`)
	default:
		var unknown, both []string
		for _, z := range args.On {
			if _, ok := want[z]; !ok {
				unknown = append(unknown, z)
			}
			if slices.Contains(args.Off, z) {
				both = append(both, z)
			}
		}
		for _, z := range args.Off {
			if _, ok := want[z]; !ok {
				unknown = append(unknown, z)
			}
		}
		if len(unknown) > 0 {
			return nil, wire.Errf(wire.CodeBadArgs, "unknown zone %s; this pole has %s", quoteList(unknown), strings.Join(a.cfg.ZoneNames(), ", "))
		}
		if len(both) > 0 {
			return nil, wire.Errf(wire.CodeBadArgs, "zone %s is both in on and off", quoteList(both))
		}
		for _, z := range args.On {
			want[z] = true
		}
		for _, z := range args.Off {
			want[z] = false
		}
	}
	if e := a.switchZones(want); e != nil {
		return nil, e
	}
	return map[string]any{"zones": a.seq.Relays(), "manual": maps.Clone(a.zones)}, nil
}

// switchZones makes want the manual zones. With nothing audible the relays
// move at once, then the change is persisted; on any failure the relays
// and the state go back, so the command happens entirely or not at all.
// While an item plays, the relays move after a fade to silence.
func (a *Agent) switchZones(want map[string]bool) *wire.Error {
	before := maps.Clone(a.zones)
	if maps.Equal(before, want) {
		return nil
	}
	for _, z := range a.cfg.ZoneNames() {
		if want[z] != before[z] && len(a.hw.Zones[z]) == 0 {
			// Degraded pole (no GPIO found): say so rather than pretend.
			return wire.Errf(wire.CodeUnsupported, "zone %s has no relay driver on this pole (%s); no zone was changed", z, a.missingSummary())
		}
	}
	now := a.clk.Now()
	if !a.seq.Quiet(now) {
		a.zones = want
		if err := a.persist(); err != nil {
			a.zones = before
			return wire.Errf(wire.CodeInternal, "cannot save the new zone state (%v); no zone was changed", err)
		}
		a.apply(a.seq.SetManual(now, want))
		a.publishState()
		return nil
	}
	relaysBefore := a.seq.Relays()
	relays := maps.Clone(relaysBefore)
	rollback := func() {
		for z, on := range relaysBefore {
			if relays[z] != on {
				if err := a.setZone(z, on); err != nil {
					a.log.Error("cannot restore relay after a failed command", "zone", z, "err", err)
				}
			}
		}
	}
	// Nothing is on air: the relays are exactly the manual zones.
	for _, z := range a.cfg.ZoneNames() {
		if want[z] == relays[z] {
			continue
		}
		relays[z] = want[z] // a failed switch may be half done: put it back too
		if err := a.setZone(z, want[z]); err != nil {
			rollback()
			a.raise("hardware", err.Error())
			return wire.Errf(wire.CodeInternal, "%v; no zone was changed", err)
		}
	}
	a.zones = want
	if err := a.persist(); err != nil {
		rollback()
		a.zones = before
		return wire.Errf(wire.CodeInternal, "cannot save the new zone state (%v); no zone was changed", err)
	}
	a.seq.Moved(now, relays)
	a.apply(a.seq.SetManual(now, want))
	a.publishState()
	return nil
}

func (a *Agent) cmdVolume(c *wire.Command) (any, *wire.Error) {
	var args struct {
		Level *int `json:"level"`
	}
	if e := wire.DecodeArgs(c.Args, &args); e != nil {
		return nil, e
	}
	if args.Level == nil {
		return nil, wire.Errf(wire.CodeBadArgs, `"level" is required (0..100)`)
	}
	if *args.Level < 0 || *args.Level > 100 {
		return nil, wire.Errf(wire.CodeBadArgs, "level must be 0..100, got %d", *args.Level)
	}
	if *args.Level != a.volume {
		old := a.volume
		a.volume = *args.Level
		if err := a.persist(); err != nil {
			a.volume = old
			return nil, wire.Errf(wire.CodeInternal, "cannot save the volume (%v); it is still %d", err, old)
		}
		if it := a.seq.Item(); it != nil && a.player != nil {
			a.player.SetGain(a.itemGain(it)) // ramped: no click
		}
		a.publishState()
	}
	return map[string]any{"volume": a.volume}, nil
}

func (a *Agent) cmdConfigGet(c *wire.Command) (any, *wire.Error) {
	var args struct {
		Keys []string `json:"keys"`
	}
	if e := wire.DecodeArgs(c.Args, &args); e != nil {
		return nil, e
	}
	flat := a.saved.Flatten(false)
	values := flat
	if len(args.Keys) > 0 {
		values = map[string]any{}
		for _, k := range args.Keys {
			if config.IsSecret(k) {
				continue // never read back; secrets_set says whether it has a value
			}
			found := false
			for fk, v := range flat {
				if fk == k || strings.HasPrefix(fk, k+".") {
					values[fk] = v
					found = true
				}
			}
			if !found {
				return nil, wire.Errf(wire.CodeBadArgs, "no such configuration key %q", k)
			}
		}
	}
	secrets := a.saved.SecretsSet()
	if secrets == nil {
		secrets = []string{}
	}
	return map[string]any{"values": values, "secrets_set": secrets, "config_hash": a.cfg.Hash(), "restart_required": a.pendingRestart()}, nil
}

// pendingRestart lists the saved keys that the running agent does not use
// yet: every key whose saved value differs from the one in force. It is a
// difference, not a list of keys, so a key that cmdConfigSet does not copy
// into the running configuration is always reported (a list kept by hand
// forgot the media, modem, watchdog and health keys).
func (a *Agent) pendingRestart() []string {
	live, saved := a.cfg.Flatten(true), a.saved.Flatten(true)
	out := []string{}
	for k, v := range saved {
		if lv, ok := live[k]; !ok || fmt.Sprint(lv) != fmt.Sprint(v) {
			out = append(out, k)
		}
	}
	for k := range live {
		if _, ok := saved[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// cmdConfigSet validates the change as a whole, saves the file atomically,
// and applies what can change while running; the rest waits for a restart.
func (a *Agent) cmdConfigSet(c *wire.Command) (any, *wire.Error) {
	var args struct {
		Values map[string]json.RawMessage `json:"values"`
	}
	if e := wire.DecodeArgs(c.Args, &args); e != nil {
		return nil, e
	}
	// A plain console password is stored as its slow hash only. The
	// hashing costs about a second of CPU on a Pi, here on the Run
	// goroutine: a rare operator action (loaxactl sends a hash).
	if err := console.HashPasswordValues(args.Values); err != nil {
		return nil, wire.Errf(wire.CodeBadArgs, "%v", err)
	}
	// Changes build on the saved file, so a second config.set before the
	// restart keeps the first one's pending keys.
	next, changed, err := a.saved.With(args.Values)
	if err != nil {
		return nil, wire.Errf(wire.CodeBadArgs, "%v", err)
	}
	if len(changed) > 0 {
		if err := next.Save(a.opts.ConfigPath); err != nil {
			return nil, wire.Errf(wire.CodeInternal, "cannot save the configuration (%v); nothing changed", err)
		}
	}
	a.saved = next
	a.consoleConfigChanged()
	old := a.cfg
	// Hot keys take effect now; keys that need a restart stay as they were
	// in the running agent (the file already holds them).
	live := old.Clone()
	live.Groups = next.Groups
	live.TeleInterval = next.TeleInterval
	live.PowerOn = next.PowerOn
	live.LogLevel = next.LogLevel
	live.Auth = next.Auth
	live.Watchdog = next.Watchdog
	live.Health = next.Health
	// The console's password and idle time apply now; its port and speed
	// at the restart.
	live.Console.Password, live.Console.IdleS = next.Console.Password, next.Console.IdleS
	// The ladder's timings and volumes apply now; the device keys wait.
	audioLive := next.Audio
	audioLive.Device, audioLive.Rate, audioLive.Channels, audioLive.BufferMS = old.Audio.Device, old.Audio.Rate, old.Audio.Channels, old.Audio.BufferMS
	// The live hub and the stream opener are built at start with these.
	audioLive.LiveTargetMS, audioLive.StreamConnectS, audioLive.StreamStallS = old.Audio.LiveTargetMS, old.Audio.StreamConnectS, old.Audio.StreamStallS
	live.Audio = audioLive
	a.cfg = live
	a.opts.Config = live
	if !slices.Equal(old.AllGroups(), live.AllGroups()) {
		a.link.SetGroups(live.AllGroups())
	}
	if old.TeleInterval != live.TeleInterval && a.teleTicker != nil {
		a.teleTicker.Reset(secondsDur(live.TeleInterval))
	}
	if old.LogLevel != live.LogLevel && a.opts.SetLogLevel != nil {
		a.opts.SetLogLevel(live.LogLevel)
	}
	a.seq.SetTimings(a.timings())
	a.queue.SetLimit(live.Audio.QueueMax)
	a.applyAuth()
	a.applyWatchdogConfig()
	a.applyHealthConfig()
	restart := a.pendingRestart()
	if slices.ContainsFunc(changed, func(k string) bool { return strings.HasPrefix(k, "mqtt.") }) {
		// The operator has acted on the broker settings the pole went back from.
		a.clear("mqtt.fallback")
	}
	if len(changed) > 0 {
		// Key names only: values may be secrets.
		a.log.Info("configuration changed", "keys", changed, "restart_required", restart)
		a.event(wire.EventConfigChanged, map[string]any{"keys": changed, "restart_required": restart})
		a.publishState()
	}
	if changed == nil {
		changed = []string{}
	}
	return map[string]any{"changed": changed, "restart_required": restart, "config_hash": a.cfg.Hash()}, nil
}

func (a *Agent) cmdRestart(c *wire.Command) (any, *wire.Error) {
	if e := wire.DecodeArgs(c.Args, &struct{}{}); e != nil {
		return nil, e
	}
	a.restart = true
	return map[string]any{"restarting": true}, nil
}

func (a *Agent) cmdReboot(c *wire.Command) (any, *wire.Error) {
	if e := wire.DecodeArgs(c.Args, &struct{}{}); e != nil {
		return nil, e
	}
	if a.hw.Board == nil {
		return nil, wire.Errf(wire.CodeUnsupported, "this agent has no board driver to reboot with")
	}
	a.log.Warn("board reboot requested by the operator", "board", a.hw.Board.String())
	// Reboot after the ack is queued, so the operator hears of it; the link
	// delivers queued acks when systemd stops the agent for the reboot.
	// The reboot command runs off the Run goroutine: it may take seconds
	// (systemd stopping services), and the agent answers meanwhile.
	a.afterAck = func() {
		a.background(func(ctx context.Context) {
			if err := a.hw.Board.Reboot(); err != nil {
				a.log.Error("reboot failed", "err", err)
				a.Do(ctx, func() { a.event(wire.EventError, map[string]any{"cmd": "reboot", "message": err.Error()}) })
			}
		})
	}
	return map[string]any{"rebooting": true}, nil
}

func (a *Agent) missingSummary() string {
	if len(a.opts.Missing) == 0 {
		return "no output configured"
	}
	parts := make([]string, 0, len(a.opts.Missing))
	for k, v := range a.opts.Missing {
		parts = append(parts, k+": "+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}

func quoteList(s []string) string {
	s = slices.Clone(s)
	sort.Strings(s)
	s = slices.Compact(s)
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = fmt.Sprintf("%q", wire.Truncate(x, 32))
	}
	return strings.Join(q, ", ")
}
