package agent_test

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/loaxa/loaxa/agent"
	"github.com/loaxa/loaxa/agent/config"
	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/audio/player"
	"github.com/loaxa/loaxa/internal/clock"
	"github.com/loaxa/loaxa/internal/daemon"
	"github.com/loaxa/loaxa/internal/mqtttest"
	"github.com/loaxa/loaxa/sim"
)

// BenchmarkCommandToRelay measures, through a real local mosquitto (with
// set_tcp_nodelay), the time from publishing a zones command to the
// simulated relay pin changing. An observer subscribed to the same command
// topic receives each command from the same broker delivery; the pin time
// minus the observer's receive time, command by command, is the agent's
// own overhead (decode, ladder, relay write), free of the broker's hop.
//
//	go test -run '^$' -bench CommandToRelay -benchtime 1000x ./agent/
func BenchmarkCommandToRelay(b *testing.B) {
	br := mqtttest.Start(b)
	p := startPoleWith(b, br, "pole-bench", b.TempDir(), poleOptions{memoryPins: true})
	changed := make(chan time.Time, 16)
	p.sim.OnTransition(func(sim.Transition) { changed <- time.Now() })
	topics := p.topics
	acks := br.Subscribe(b, topics.Ack())
	status := br.Subscribe(b, topics.Status())
	mqtttest.Next(b, status) // online
	op := mqtttest.Client(b, br, "bench-operator")
	seen := make(chan time.Time, 16)
	observer := mqtttest.Client(b, br, "bench-observer")
	mqtttest.Wait(b, observer.Subscribe(topics.Cmd(), 1, func(mqtt.Client, mqtt.Message) { seen <- time.Now() }), "subscribe")

	total := make([]time.Duration, 0, b.N)
	overhead := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		on := i%2 == 0
		payload := fmt.Sprintf(`{"id":"b%d","cmd":"zones","args":{"%s":["z1"]}}`, i, map[bool]string{true: "on", false: "off"}[on])
		start := time.Now()
		op.Publish(topics.Cmd(), 1, false, payload)
		var pin, obs time.Time
		for pin.IsZero() || obs.IsZero() {
			select {
			case pin = <-changed:
			case obs = <-seen:
			case <-time.After(mqtttest.WaitTimeout):
				b.Fatalf("command %d: relay did not change", i)
			}
		}
		total = append(total, pin.Sub(start))
		overhead = append(overhead, pin.Sub(obs))
		mqtttest.Next(b, acks) // the agent is idle again before the next one
	}
	b.StopTimer()
	b.ReportMetric(float64(pct(total, 50).Microseconds()), "cmd→relay-p50-µs")
	b.ReportMetric(float64(pct(total, 99).Microseconds()), "cmd→relay-p99-µs")
	b.ReportMetric(float64(pct(overhead, 50).Microseconds()), "agent-overhead-p50-µs")
	b.ReportMetric(float64(pct(overhead, 99).Microseconds()), "agent-overhead-p99-µs")
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[min(max(i-1, 0), len(s)-1)]
}

// watchSink passes writes to a sink and reports when a block that is not
// silence is written: the moment audio reaches the device.
type watchSink struct {
	audio.Sink
	heard chan time.Time
}

func (w *watchSink) Write(p []int16) error {
	for _, s := range p {
		if s != 0 {
			select {
			case w.heard <- time.Now():
			default:
			}
			break
		}
	}
	return w.Sink.Write(p)
}

// BenchmarkPlayToFirstSample measures, through a real mosquitto, the time
// from publishing a play command to its first sample reaching the
// (simulated, real-time) sink, with the amplifier already on: the
// responsiveness an emergency announcement gets.
//
//	go test -run '^$' -bench PlayToFirstSample -benchtime 200x ./agent/
func BenchmarkPlayToFirstSample(b *testing.B) {
	br := mqtttest.Start(b)
	var sink *watchSink
	p := startPoleWith(b, br, "pole-bench-play", b.TempDir(), poleOptions{
		memoryPins: true,
		edit: func(cfg *config.Config) {
			cfg.Audio.AmpHoldS = 3600
			cfg.Audio.Chime = nil
		},
		audio: func(cfg *config.Config) (*player.Player, agent.SourceOpener) {
			f := audio.Format{Rate: cfg.Audio.Rate, Channels: cfg.Audio.Channels}
			speaker, err := sim.NewAudioSink(f, sim.AudioSinkOptions{Buffer: time.Duration(cfg.Audio.BufferMS) * time.Millisecond})
			if err != nil {
				b.Fatal(err)
			}
			sink = &watchSink{Sink: speaker, heard: make(chan time.Time, 1)}
			log := slog.New(slog.DiscardHandler)
			pl, err := player.New(player.Options{Sink: sink, Log: log})
			if err != nil {
				b.Fatal(err)
			}
			return pl, daemon.Opener(cfg, nil, clock.Real{}, log, nil)
		},
	})
	topics := p.topics
	status := br.Subscribe(b, topics.Status())
	events := br.Subscribe(b, topics.Event())
	mqtttest.Next(b, status)
	op := mqtttest.Client(b, br, "bench-operator")
	play := func(i int) time.Duration {
		for len(sink.heard) > 0 {
			<-sink.heard
		}
		start := time.Now()
		op.Publish(topics.Cmd(), 1, false, fmt.Sprintf(`{"id":"p%d","cmd":"play","args":{"source":"tone:1000","duration_s":0.05}}`, i))
		var at time.Time
		select {
		case at = <-sink.heard:
		case <-time.After(mqtttest.WaitTimeout):
			b.Fatalf("play %d: no audio", i)
		}
		for { // wait until the item ended: the next one starts from idle
			m := mqtttest.Next(b, events)
			if strings.Contains(string(m.Payload), `"play.end"`) {
				break
			}
		}
		return at.Sub(start)
	}
	play(-1) // powers the amplifier on and warms it up
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		lat = append(lat, play(i))
	}
	b.StopTimer()
	b.ReportMetric(float64(pct(lat, 50).Microseconds())/1000, "play→sample-p50-ms")
	b.ReportMetric(float64(pct(lat, 99).Microseconds())/1000, "play→sample-p99-ms")
}
