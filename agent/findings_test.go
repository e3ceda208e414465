package agent

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/loaxa/loaxa/agent/config"
)

// Issue 7, finding 8: tone:NaN was accepted and failed later.
func TestToneMustBeANumberInRange(t *testing.T) {
	p, _ := handPole(t)
	for _, src := range []string{"tone:NaN", "tone:nan", "tone:Inf", "tone:-Inf", "tone:1e400"} {
		if ack, _ := p.send(t, playCmd("t-"+src[5:], fmt.Sprintf(`{"source":%q}`, src))); ack.code() != "bad_args" {
			t.Errorf("play %s: %s", src, ack.raw)
		}
	}
	if ack, _ := p.send(t, playCmd("t-ok", `{"source":"tone:440"}`)); !ack.OK {
		t.Errorf("tone:440: %s", ack.raw)
	}
}

// Issue 7, finding 8: config.set of keys read at start answered
// restart_required [] while the running agent kept the old value.
func TestKeysReadAtStartAreListedAsRestartRequired(t *testing.T) {
	p := newPole(t, "", nil)
	ack, _ := p.send(t, cmd("k", "config.set", `{"values":{"audio.live_target_ms":100,"audio.stream_connect_s":5,"audio.stream_stall_s":7,"audio.fade_ms":40}}`))
	var res struct {
		RestartRequired []string `json:"restart_required"`
	}
	json.Unmarshal(ack.Result, &res)
	if got := strings.Join(res.RestartRequired, ","); got != "audio.live_target_ms,audio.stream_connect_s,audio.stream_stall_s" {
		t.Errorf("restart_required = %s; ack %s", got, ack.raw)
	}
	if p.Agent.cfg.Audio.FadeMS != 40 {
		t.Error("audio.fade_ms was not applied at once")
	}
}

// Issue 7, finding 5: the play queue had no limit.
func TestPlayQueueIsBounded(t *testing.T) {
	p, _ := handPole(t)
	p.send(t, playCmd("on-air", `{"source":"tone:500","priority":"emergency","duration_s":600}`))
	var last *ackDoc
	n := 0
	for i := range config.Default().Audio.QueueMax + 5 {
		ack, _ := p.send(t, playCmd(fmt.Sprintf("q%d", i), `{"source":"tone:600","priority":"emergency"}`))
		if ack.OK {
			n++
		}
		last = ack
	}
	if n != p.cfg.Audio.QueueMax || last.code() != "busy" || !strings.Contains(last.raw, "queue is full") {
		t.Fatalf("%d items queued (limit %d); last ack %s", n, p.cfg.Audio.QueueMax, last.raw)
	}
}

// Issue 7, finding 5: live channels subscribed had no limit.
func TestLiveChannelsAreBounded(t *testing.T) {
	p, _ := handPole(t)
	p.send(t, playCmd("on-air", `{"source":"tone:500","priority":"emergency","duration_s":600}`))
	var last *ackDoc
	for i := range maxLiveChannels + 1 {
		last, _ = p.send(t, playCmd(fmt.Sprintf("l%d", i), fmt.Sprintf(`{"source":"live:ch-%03d","priority":"emergency"}`, i)))
	}
	if last.code() != "busy" || !strings.Contains(last.raw, "live channels") {
		t.Fatalf("live channel %d: %s", maxLiveChannels+1, last.raw)
	}
	// Another item on a channel already subscribed costs nothing more.
	if ack, _ := p.send(t, playCmd("again", `{"source":"live:ch-000","priority":"emergency"}`)); !ack.OK {
		t.Fatalf("a second item on a subscribed channel: %s", ack.raw)
	}
}
