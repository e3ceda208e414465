package agent

import "sync"

// maxNotes bounds the reports waiting for the Run goroutine. A report is
// small (an event's fields); 1024 of them cover a long stall of the Run
// goroutine (a burst of commands, a slow card) without losing a
// media.fetched or an ota.progress, where a channel of 64 dropped them.
const maxNotes = 1024

// noteQueue carries reports from other goroutines (sources, the live hub,
// the media fetcher, the updater, the console) to the Run goroutine.
// Putting one never blocks, so a reporter that the Run goroutine itself
// waits on (the fetcher's owner, say) cannot deadlock with it; beyond
// maxNotes a report is dropped and counted.
type noteQueue struct {
	mu      sync.Mutex // guards q and dropped
	q       []note
	dropped int
	c       chan struct{} // has a value while q may be non-empty
}

func newNoteQueue() *noteQueue { return &noteQueue{c: make(chan struct{}, 1)} }

// put queues n; false when the queue is full and n was dropped.
func (q *noteQueue) put(n note) bool {
	q.mu.Lock()
	if len(q.q) >= maxNotes {
		q.dropped++
		q.mu.Unlock()
		return false
	}
	q.q = append(q.q, n)
	q.mu.Unlock()
	select {
	case q.c <- struct{}{}:
	default:
	}
	return true
}

// take returns the queued reports, oldest first, and how many were
// dropped since the last take.
func (q *noteQueue) take() ([]note, int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	out, dropped := q.q, q.dropped
	q.q, q.dropped = nil, 0
	return out, dropped
}

// drainNotes handles every queued report (Run goroutine).
func (a *Agent) drainNotes() {
	batch, dropped := a.notes.take()
	if dropped > 0 {
		a.log.Warn("reports dropped: the agent was busy", "dropped", dropped)
	}
	for _, n := range batch {
		a.sourceNote(n)
	}
}
