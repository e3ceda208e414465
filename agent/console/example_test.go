package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/loaxa/loaxa/agent/console"
	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/internal/clock"
)

// pingBackend answers ping the way the agent does, and nothing else.
type pingBackend struct{ console.Backend }

func (pingBackend) Do(ctx context.Context, doc []byte) []byte {
	c, _ := wire.Decode(doc, time.Now())
	ack, _ := json.Marshal(wire.Ack{ID: c.ID, Cmd: c.Cmd, OK: true, Result: map[string]any{"version": "1.2.3"}})
	return ack
}
func (pingBackend) Banner(ctx context.Context) console.Banner { return console.Banner{ID: "pole-1"} }
func (pingBackend) Access() console.Access                    { return console.Access{} }

// duplex is one end of an in-memory cable.
type duplex struct {
	io.Reader
	io.WriteCloser
}

// A tool on the laptop drives the console with JSON lines through a
// Client; a person would type `ping` instead.
func Example() {
	boardIn, laptopOut := io.Pipe()
	laptopIn, boardOut := io.Pipe()
	srv, _ := console.New(console.Options{
		Backend: pingBackend{},
		Open: func(ctx context.Context) (io.ReadWriteCloser, error) {
			return duplex{boardIn, boardOut}, nil
		},
		Clock: clock.Real{},
		Log:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	srv.Start()
	cl := console.NewClient(duplex{laptopIn, laptopOut}, clock.Real{})
	rep, err := cl.Do(context.Background(), 10*time.Second, "ping", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rep.OK, string(rep.Result))
	cl.Close()
	srv.Close()
	// Output: true {"version":"1.2.3"}
}

func ExampleHashPassword() {
	h, _ := console.HashPassword("a technician password")
	fmt.Println(console.VerifyPassword(h, "a technician password"), console.VerifyPassword(h, "a guess"))
	// Output: true false
}
