package agent

import (
	"encoding/json"
	"testing"

	"github.com/loaxa/loaxa/agent/wire"
)

// What a run could not deliver is loaded by the next one, each message
// with its own payload, in order, before anything new.
func TestOutboxReloadsWhatWasNotDelivered(t *testing.T) {
	p := newPole(t, "", nil)
	for _, item := range []string{"a", "b", "c"} {
		p.event("test", map[string]any{"item": item})
	}
	p.Close()
	p2 := newPole(t, p.dir, nil)
	p2.event("test", map[string]any{"item": "new"})
	var items []string
	var seqs []uint64
	for _, m := range p2.published() {
		var ev wire.Event
		if json.Unmarshal(m.Payload, &ev) == nil && ev.Type == "test" {
			items = append(items, ev.Data["item"].(string))
			seqs = append(seqs, ev.Seq)
		}
	}
	if len(items) != 4 || items[0] != "a" || items[1] != "b" || items[2] != "c" || items[3] != "new" {
		t.Fatalf("after a restart the outbox holds %v, want a b c new", items)
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] <= seqs[i-1] {
			t.Fatalf("seqs %v are not increasing", seqs)
		}
	}
}
