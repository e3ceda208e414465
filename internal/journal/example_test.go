package journal_test

import (
	"fmt"
	"log"
	"os"

	"github.com/loaxa/loaxa/internal/journal"
)

// An outbox: answers and events are pushed, sent with several in flight,
// and acknowledged as the broker confirms them, in any order.
func ExampleQueue() {
	dir, err := os.MkdirTemp("", "outbox")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	q, err := journal.OpenQueue(dir, journal.Options{})
	if err != nil {
		log.Fatal(err)
	}
	// Push returns once the records are on disk; ErrFull means stop taking
	// commands until acknowledgements make room.
	if _, err := q.Push([]byte(`{"ack":"c1"}`), []byte(`{"ev":"play.start"}`), []byte(`{"ev":"play.end"}`)); err != nil {
		log.Fatal(err)
	}
	pending, err := q.Pending(0, 16)
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range pending {
		fmt.Printf("publish seq=%d %s\n", e.Seq, e.Data)
	}
	// The broker confirms 3 and 1; 2 is still in flight when the power goes.
	if err := q.Ack(3, 1); err != nil {
		log.Fatal(err)
	}
	q.Close()

	q, err = journal.OpenQueue(dir, journal.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer q.Close()
	pending, err = q.Pending(0, 16)
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range pending {
		fmt.Printf("again seq=%d %s\n", e.Seq, e.Data)
	}
	// Output:
	// publish seq=1 {"ack":"c1"}
	// publish seq=2 {"ev":"play.start"}
	// publish seq=3 {"ev":"play.end"}
	// again seq=2 {"ev":"play.start"}
	// again seq=3 {"ev":"play.end"}
}
