package ladder

import (
	"slices"
	"time"
)

// Queue holds the items waiting for the output, in ladder order. It decides
// where a new item goes given what is on air; it never starts anything
// itself (the owner asks the Sequencer).
type Queue struct {
	items []*Item
	seq   uint64
	limit int
}

// NewQueue returns a queue that holds at most limit waiting items (0: no
// limit).
func NewQueue(limit int) *Queue { return &Queue{limit: limit} }

// SetLimit changes the limit; items already waiting stay.
func (q *Queue) SetLimit(limit int) { q.limit = limit }

// Verdict is the ladder's answer to an offered item.
type Verdict int

// Verdicts of Offer.
const (
	// Refused: a lower item with no window while something higher plays;
	// the item was not queued.
	Refused Verdict = iota
	// Full: the queue holds its limit; the item was not queued.
	Full
	// Wait: queued behind what plays.
	Wait
	// Start: nothing is on air; the head of the queue should start.
	Start
	// Interrupt: the item outranks what is on air, which should make way
	// and come back when its turn comes.
	Interrupt
	// Replace: the item replaces what is on air, which ends.
	Replace
)

// Offer applies the ladder to a new item. onAir is the item being
// sequenced (nil: none) and leaving tells that it is already fading out
// for good (stopped), so it no longer holds the output against anyone. An
// accepted item is queued (Seq set); the verdict says what the owner must
// do to what is on air.
func (q *Queue) Offer(it *Item, replace bool, onAir *Item, leaving bool) Verdict {
	var v Verdict
	switch {
	case onAir == nil:
		v = Start
	case leaving:
		v = Wait
	case Outranks(it, onAir):
		v = Interrupt
	case it.Level == onAir.Level && replace:
		v = Replace
	case it.Level >= onAir.Level || !it.Until.IsZero():
		v = Wait
	default:
		return Refused
	}
	if q.limit > 0 && len(q.items) >= q.limit {
		return Full
	}
	q.seq++
	it.Seq = q.seq
	it.Front = v == Replace
	q.Push(it)
	return v
}

// Push puts an item (back) into the queue at its place: an interrupted item
// keeps its Seq, so it comes before the items that arrived after it.
func (q *Queue) Push(it *Item) {
	q.items = append(q.items, it)
	slices.SortStableFunc(q.items, order)
}

// Pop takes the head of the queue whose window is still open at now; the
// items it passed whose window had closed are returned as expired.
func (q *Queue) Pop(now time.Time) (next *Item, expired []*Item) {
	for len(q.items) > 0 {
		it := q.items[0]
		q.items = q.items[1:]
		if it.WindowOpen(now) {
			return it, expired
		}
		expired = append(expired, it)
	}
	return nil, expired
}

// Remove takes out every waiting item for which match is true, in order.
func (q *Queue) Remove(match func(*Item) bool) []*Item {
	var out []*Item
	q.items = slices.DeleteFunc(q.items, func(it *Item) bool {
		if match(it) {
			out = append(out, it)
			return true
		}
		return false
	})
	return out
}

// Items returns the waiting items in order; the caller must not change the
// slice.
func (q *Queue) Items() []*Item { return q.items }

// Head is the item that would start next (nil: none waiting).
func (q *Queue) Head() *Item {
	if len(q.items) == 0 {
		return nil
	}
	return q.items[0]
}

// Position is it's 1-based place in the queue, 0 when not waiting.
func (q *Queue) Position(it *Item) int { return slices.Index(q.items, it) + 1 }

// Find returns the waiting item with that id.
func (q *Queue) Find(id string) *Item {
	for _, it := range q.items {
		if it.ID == id {
			return it
		}
	}
	return nil
}

// Len is how many items wait.
func (q *Queue) Len() int { return len(q.items) }
