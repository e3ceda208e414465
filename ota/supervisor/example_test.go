package supervisor_test

import (
	"context"
	"fmt"

	"github.com/loaxa/loaxa/ota"
	"github.com/loaxa/loaxa/ota/supervisor"
)

// How the agent attaches to its supervisor at start and reports healthy.
func ExampleAttach() {
	conn, err := supervisor.Attach()
	if err != nil {
		fmt.Println("bad supervisor handoff:", err)
		return
	}
	if conn == nil {
		// Started by hand, not by `loaxad supervise`: updates are refused
		// (ota.ErrUnsupervised) but the agent runs.
		fmt.Println("not supervised")
		return
	}
	defer conn.Close()
	info := conn.Info() // which slot and version run, on trial or not
	u := ota.New(ota.Options{Layout: ota.NewLayout("/var/lib/loaxa"), Version: info.Version, Boot: info, Supervisor: conn})
	_ = u
	// Once the broker is connected, the audio device open and the relays
	// answering: u.Healthy(), which calls conn.ReportHealthy.
	_, _ = conn.ReportHealthy(context.Background())
	// Output: not supervised
}
