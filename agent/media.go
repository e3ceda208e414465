package agent

import (
	"errors"
	"net/url"
	"path"
	"path/filepath"

	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/audio/media"
)

// The offline media cache (DATA_DIR/media): files fetched ahead for the
// schedule, or on the operator's media.fetch, verified by their sha256
// before they can be played as file:NAME. Downloads run in the fetcher's
// own goroutines; its events reach the operator through Report.

// setupMedia starts the fetcher; without it file: sources still play what
// is in the directory.
func (a *Agent) setupMedia() {
	f, err := media.NewFetcher(media.FetcherOptions{
		Dir:        filepath.Join(a.cfg.DataDir, "media"),
		Clock:      a.clk,
		Logger:     a.log.With("component", "media"),
		OnEvent:    func(ev media.Event) { a.Report(ev.Kind, ev.Data()) },
		QuotaBytes: int64(a.cfg.Media.QuotaMB) << 20,
	})
	if err != nil {
		a.log.Error("media cache", "err", err)
		a.storageFault(storageMedia, "the media cache cannot run: "+err.Error())
		return
	}
	a.media = f
}

// TouchMedia records that a cached file was played, for the cache's
// least-recently-used order; the source opener calls it (any goroutine).
func (a *Agent) TouchMedia(name string) {
	if a.media != nil {
		a.media.Touch(name)
	}
}

type mediaFetchArgs struct {
	URL    string `json:"url"`
	SHA256 string `json:"sha256"`
	Name   string `json:"name"`
}

// cmdMediaFetch downloads a file into the cache in the background: the
// answer says fetching (or cached, when it is there with that hash), and
// media.fetched or media.failed follows.
func (a *Agent) cmdMediaFetch(c *wire.Command) (any, *wire.Error) {
	var args mediaFetchArgs
	if e := wire.DecodeArgs(c.Args, &args); e != nil {
		return nil, e
	}
	if a.media == nil {
		return nil, wire.Errf(wire.CodeInternal, "the media cache is not available (see the storage alarm)")
	}
	if args.Name == "" {
		// The URL's last path element, as a shell's download would name it.
		if u, err := url.Parse(args.URL); err == nil {
			args.Name = path.Base(u.Path)
		}
	}
	st, err := a.media.Fetch(args.URL, args.SHA256, args.Name)
	switch {
	case errors.Is(err, media.ErrBusy):
		return nil, wire.Errf(wire.CodeBusy, "%v", err)
	case errors.Is(err, media.ErrRequest), errors.Is(err, media.ErrName):
		return nil, wire.Errf(wire.CodeBadArgs, "%v", err)
	case err != nil:
		return nil, wire.Errf(wire.CodeInternal, "%v", err)
	}
	return map[string]any{"status": string(st), "name": args.Name}, nil
}

// mediaDoc is the state's "media" object: the cache's use.
func (a *Agent) mediaDoc() *wire.MediaInfo {
	if a.media == nil {
		return nil
	}
	u := a.media.Usage()
	return &wire.MediaInfo{UsedBytes: u.UsedBytes, QuotaBytes: u.QuotaBytes, Files: u.Files, PartialBytes: u.PartialBytes,
		Fetching: u.Fetching, Queued: u.Queued, Missing: u.Missing, MissingCount: u.MissingCount}
}
