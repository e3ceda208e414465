package media

import (
	"os"
	"path/filepath"

	"github.com/loaxa/loaxa/internal/redact"
)

// The fallbacks of an Air choice.
const (
	FallbackNone    = ""        // the file is there: nothing to fall back on
	FallbackURL     = "url"     // the file's URL is played as a stream
	FallbackFile    = "file"    // the configured stored file (media.fallback)
	FallbackSilence = "silence" // nothing plays; the item is logged failed
)

// Air is what to play, at air time, for an item whose source is file:NAME.
type Air struct {
	// Source is what to open: "file:NAME", the item's URL, or
	// "file:FALLBACK"; "" for silence.
	Source string
	// Missing: NAME is not in the cache (the agent publishes MissingEvent).
	Missing bool
	// Fallback says which of the fallbacks Source is.
	Fallback string
}

// ResolveAir decides what an item sourced from file:name plays now: the
// cached file if it is there (a file is there only once its hash matched);
// else, if streamURL is set (the item's url, when the agent is configured
// to stream missing media), that URL; else the fallback file of the
// configuration (media.fallback) if it is there; else silence. It only
// looks at the cache directory, so it is cheap enough for the moment an
// item starts.
func ResolveAir(dir, name, streamURL, fallback string) Air {
	return resolveAir(dir, name, cached(dir, name), streamURL, fallback)
}

func resolveAir(dir, name string, have bool, streamURL, fallback string) Air {
	if have {
		return Air{Source: "file:" + name}
	}
	switch {
	case streamURL != "":
		return Air{Source: streamURL, Missing: true, Fallback: FallbackURL}
	case fallback != "" && fallback != name && cached(dir, fallback):
		return Air{Source: "file:" + fallback, Missing: true, Fallback: FallbackFile}
	}
	return Air{Missing: true, Fallback: FallbackSilence}
}

func cached(dir, name string) bool {
	if ValidName(name) != nil {
		return false
	}
	info, err := os.Stat(filepath.Join(dir, name))
	return err == nil && info.Mode().IsRegular()
}

// MissingEvent is the data of the "media.missing" event the agent
// publishes when a Missing choice airs: the media name, the play item, and
// what was played instead ("fallback": url, file or silence, and "source").
func (a Air) MissingEvent(name, item string) map[string]any {
	return map[string]any{"name": name, "item": item, "fallback": a.Fallback, "source": redact.URL(a.Source)}
}
