package ladder

import (
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC)

func item(id string, lv Level, origin string) *Item { return &Item{ID: id, Level: lv, Origin: origin} }

func ids(items []*Item) string {
	var out []string
	for _, it := range items {
		out = append(out, it.ID)
	}
	return strings.Join(out, ",")
}

func TestOffer(t *testing.T) {
	withWindow := func(it *Item) *Item { it.Until = t0.Add(time.Hour); return it }
	for _, tc := range []struct {
		name    string
		onAir   *Item
		leaving bool
		offer   *Item
		replace bool
		want    Verdict
	}{
		{"nothing on air", nil, false, item("n", Normal, ""), false, Start},
		{"higher level interrupts", item("n", Normal, ""), false, item("e", Emergency, ""), false, Interrupt},
		{"live interrupts priority", item("p", Priority, "province"), false, item("l", Live, ""), false, Interrupt},
		{"same level higher origin takes over", item("c", Live, "commune"), false, item("p", Live, "province"), false, Interrupt},
		{"same level lower origin waits", item("p", Live, "province"), false, item("c", Live, "commune"), false, Wait},
		{"same level queues", item("a", Normal, ""), false, item("b", Normal, ""), false, Wait},
		{"same level replace", item("a", Normal, ""), false, item("b", Normal, ""), true, Replace},
		{"replace of a lower level is just an interruption", item("a", Normal, ""), false, item("b", Priority, ""), true, Interrupt},
		{"replace cannot take a higher level", item("a", Priority, ""), false, item("b", Normal, ""), true, Refused},
		{"lower without window refused", item("a", Priority, ""), false, item("b", Background, ""), false, Refused},
		{"lower with window waits", item("a", Priority, ""), false, withWindow(item("b", Background, "")), false, Wait},
		{"anything waits behind an item stopped for good", item("e", Emergency, ""), true, item("b", Background, ""), false, Wait},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := NewQueue(0)
			got := q.Offer(tc.offer, tc.replace, tc.onAir, tc.leaving)
			if got != tc.want {
				t.Fatalf("Offer = %v, want %v", got, tc.want)
			}
			queued := q.Find(tc.offer.ID) != nil
			if queued != (got != Refused && got != Full) {
				t.Errorf("verdict %v but queued = %v", got, queued)
			}
			if tc.offer.Front != (got == Replace) {
				t.Errorf("Front = %v for verdict %v", tc.offer.Front, got)
			}
		})
	}
}

func TestQueueOrder(t *testing.T) {
	q := NewQueue(0)
	onAir := item("x", Emergency, "")
	for _, it := range []*Item{
		item("n1", Normal, ""), item("p1", Priority, ""), item("n2", Normal, "province"),
		item("p2", Priority, "commune"), item("n3", Normal, ""),
	} {
		it.Until = t0.Add(time.Hour)
		if v := q.Offer(it, false, onAir, false); v != Wait {
			t.Fatalf("offer %s: %v", it.ID, v)
		}
	}
	// Level, then origin, then arrival.
	if got := ids(q.Items()); got != "p2,p1,n2,n1,n3" {
		t.Fatalf("order %s", got)
	}
	// An interrupted item (its old Seq) goes back before later arrivals of
	// its level and origin; a replacement goes before all of them.
	old := item("n0", Normal, "")
	old.Seq = 0
	q.Push(old)
	r := item("nr", Normal, "")
	q.Offer(r, true, item("n9", Normal, ""), false)
	if got := ids(q.Items()); got != "p2,p1,n2,nr,n0,n1,n3" {
		t.Fatalf("order after a resume and a replace: %s", got)
	}
	if q.Position(r) != 4 || q.Head().ID != "p2" {
		t.Errorf("position %d head %s", q.Position(r), q.Head().ID)
	}
}

func TestPopExpiresClosedWindows(t *testing.T) {
	q := NewQueue(0)
	onAir := item("x", Emergency, "")
	a, b, c := item("a", Priority, ""), item("b", Normal, ""), item("c", Normal, "")
	a.Until, b.Until, c.Until = t0.Add(time.Minute), t0.Add(2*time.Minute), t0.Add(time.Hour)
	for _, it := range []*Item{a, b, c} {
		q.Offer(it, false, onAir, false)
	}
	next, expired := q.Pop(t0.Add(90 * time.Second))
	if next != b || ids(expired) != "a" {
		t.Fatalf("Pop = %v, expired %s; want b, expired a", next, ids(expired))
	}
	next, expired = q.Pop(t0.Add(2 * time.Hour))
	if next != nil || ids(expired) != "c" || q.Len() != 0 {
		t.Fatalf("Pop = %v, expired %s, left %d", next, ids(expired), q.Len())
	}
}

func TestQueueLimit(t *testing.T) {
	q := NewQueue(2)
	onAir := item("x", Normal, "")
	for i, want := range []Verdict{Wait, Wait, Full} {
		if v := q.Offer(item(string(rune('a'+i)), Normal, ""), false, onAir, false); v != want {
			t.Fatalf("offer %d: %v, want %v", i, v, want)
		}
	}
	// A refusal is a refusal whatever the queue holds.
	if v := q.Offer(item("z", Background, ""), false, onAir, false); v != Refused {
		t.Fatalf("lower item on a full queue: %v, want Refused", v)
	}
	if got := ids(q.Remove(func(it *Item) bool { return it.ID == "a" })); got != "a" || q.Len() != 1 {
		t.Fatalf("Remove = %s, left %d", got, q.Len())
	}
}
