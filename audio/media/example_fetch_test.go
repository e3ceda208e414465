package media_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/loaxa/loaxa/audio/media"
)

// How the agent drives the cache: events go to its owner goroutine
// without blocking; commands and the schedule call the Fetcher.
func ExampleFetcher() {
	bulletin := []byte("ID3 a bulletin's bytes")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(bulletin) }))
	defer srv.Close()
	dir, _ := os.MkdirTemp("", "media")
	defer os.RemoveAll(dir)

	events := make(chan media.Event, 16) // the agent's Report does the same: never block
	f, err := media.NewFetcher(media.FetcherOptions{Dir: dir, QuotaBytes: 512 << 20, MinFreeBytes: -1,
		OnEvent: func(ev media.Event) {
			select {
			case events <- ev:
			default:
			}
		}})
	if err != nil {
		panic(err)
	}
	defer f.Close()
	f.SetPinned([]string{"thoi-su.mp3"}) // the schedule's Pinned names, and media.fallback

	h := sha256.Sum256(bulletin)
	status, err := f.Fetch(srv.URL+"/thoi-su.mp3", hex.EncodeToString(h[:]), "thoi-su.mp3")
	fmt.Println("ack:", status, err) // the media.fetch ack
	ev := <-events
	fmt.Println(ev.Kind, ev.Data()["size"])
	fmt.Println(f.Air("thoi-su.mp3", hex.EncodeToString(h[:]), "", "").Source)
	// Output:
	// ack: fetching <nil>
	// media.fetched 22
	// file:thoi-su.mp3
}
