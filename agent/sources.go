package agent

import (
	"context"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/loaxa/loaxa/audio"
)

// openContent opens an item's audio: the source, played repeat+1 times,
// starting skip samples in (the resume point of an interrupted file), cut
// after limit samples (duration_s).
func openContent(ctx context.Context, open SourceOpener, req SourceRequest, skip, limit int64, repeat int) (audio.Source, error) {
	if open == nil {
		return nil, errNoOpener
	}
	src, err := open(ctx, req)
	if err != nil {
		return nil, err
	}
	return wrapContent(ctx, open, req, src, skip, limit, repeat)
}

// wrapContent is openContent for an opened source. A timed source (live)
// played once and not resumed stays timed, so the player reads it at
// play-out time rather than ahead.
func wrapContent(ctx context.Context, open SourceOpener, req SourceRequest, src audio.Source, skip, limit int64, repeat int) (audio.Source, error) {
	if ts, ok := src.(audio.TimedSource); ok && repeat == 0 && skip == 0 {
		if limit > 0 {
			return &timedLimit{ts: ts, left: limit}, nil
		}
		return ts, nil
	}
	var s audio.Source = &repeatSource{ctx: ctx, open: open, req: req, cur: src, left: repeat}
	if skip > 0 {
		if err := discard(s, skip); err != nil {
			s.Close()
			if errors.Is(err, io.EOF) {
				return nil, errors.New("the resume point is past the end of the source")
			}
			return nil, err
		}
	}
	if limit > 0 {
		s = &limitSource{Source: s, left: limit}
	}
	return s, nil
}

func discard(s audio.Source, n int64) error {
	buf := make([]int16, 4800)
	for n > 0 {
		k, err := s.Read(buf[:min(int64(len(buf)), n)])
		n -= int64(k)
		if err != nil && n > 0 {
			return err
		}
	}
	return nil
}

// repeatSource plays its source left more times, reopening it each time.
type repeatSource struct {
	ctx  context.Context
	open SourceOpener
	req  SourceRequest
	cur  audio.Source
	left int
}

func (r *repeatSource) Format() audio.Format { return r.req.Format }

func (r *repeatSource) Read(p []int16) (int, error) {
	for {
		if r.cur == nil {
			return 0, io.EOF
		}
		n, err := r.cur.Read(p)
		if !errors.Is(err, io.EOF) || r.left == 0 {
			return n, err
		}
		r.cur.Close()
		r.cur = nil
		r.left--
		src, oerr := r.open(r.ctx, r.req)
		if oerr != nil {
			return n, oerr
		}
		r.cur = src
		if n > 0 {
			return n, nil
		}
	}
}

func (r *repeatSource) Close() error {
	if r.cur == nil {
		return nil
	}
	err := r.cur.Close()
	r.cur = nil
	return err
}

// limitSource ends its source after left samples.
type limitSource struct {
	audio.Source
	left int64
}

func (l *limitSource) Read(p []int16) (int, error) {
	if l.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.Source.Read(p)
	l.left -= int64(n)
	if l.left <= 0 && err == nil {
		err = io.EOF
	}
	return n, err
}

// concatSource plays first, then second.
type concatSource struct {
	first, second audio.Source
}

func concat(first, second audio.Source) audio.Source {
	if ts, ok := second.(audio.TimedSource); ok {
		return &timedConcat{first: first, ts: ts}
	}
	return &concatSource{first, second}
}

func (c *concatSource) Format() audio.Format { return c.second.Format() }

func (c *concatSource) Read(p []int16) (int, error) {
	if c.first != nil {
		n, err := c.first.Read(p)
		if errors.Is(err, io.EOF) {
			c.first.Close()
			c.first = nil
			err = nil
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
	return c.second.Read(p)
}

func (c *concatSource) Close() error {
	if c.first != nil {
		c.first.Close()
	}
	return c.second.Close()
}

// pcmSource plays samples held in memory (the chime).
type pcmSource struct {
	f   audio.Format
	pcm []int16
}

func (m *pcmSource) Format() audio.Format { return m.f }
func (m *pcmSource) Close() error         { return nil }
func (m *pcmSource) Read(p []int16) (int, error) {
	if len(m.pcm) == 0 {
		return 0, io.EOF
	}
	n := copy(p, m.pcm)
	m.pcm = m.pcm[n:]
	return n, nil
}

// chime returns the announcement chime in format f: by default a falling
// two-tone (880 Hz then 660 Hz, 0.3 s each, soft edges) and a short pause;
// with audio.chime_source = "tone:HZ", one 0.6 s tone.
func (a *Agent) chime(f audio.Format) audio.Source {
	tones := []float64{880, 660}
	if hz, ok := strings.CutPrefix(a.cfg.Audio.ChimeSource, "tone:"); ok {
		if v, err := strconv.ParseFloat(hz, 64); err == nil {
			tones = []float64{v, v}
		}
	}
	frames := f.Rate * 3 / 10
	edge := f.Rate / 100 // 10 ms raised-cosine edges: no click
	var pcm []int16
	for _, hz := range tones {
		for i := range frames {
			env := 1.0
			if i < edge {
				env = 0.5 - 0.5*math.Cos(math.Pi*float64(i)/float64(edge))
			} else if i >= frames-edge {
				env = 0.5 - 0.5*math.Cos(math.Pi*float64(frames-1-i)/float64(edge))
			}
			v := int16(0.4 * 32767 * env * math.Sin(2*math.Pi*hz*float64(i)/float64(f.Rate)))
			for range f.Channels {
				pcm = append(pcm, v)
			}
		}
	}
	pcm = append(pcm, make([]int16, f.Rate/5*f.Channels)...) // 200 ms pause
	return &pcmSource{f: f, pcm: pcm}
}

func chimeSamples(s audio.Source) int64 {
	if m, ok := s.(*pcmSource); ok {
		return int64(len(m.pcm))
	}
	return 0
}

// isSeekable reports whether an interrupted item resumes where it stopped
// (a file, a tone) rather than rejoining (a stream, a live channel).
func isSeekable(src string) bool {
	return strings.HasPrefix(src, "file:") || strings.HasPrefix(src, "tone:")
}

func liveChannel(src string) (string, bool) { return strings.CutPrefix(src, "live:") }

// SourceRequest asks the daemon's opener for an item's audio.
type SourceRequest struct {
	Source string
	Format audio.Format
	Item   string
	// Notify reports what happens to the source (a stream reconnecting, a
	// new title, a live channel gone silent) as an MQTT event; it may be
	// called from any goroutine until the source is closed.
	Notify func(kind string, data map[string]any)
	// Live sources only: Backlog is how much audio the jitter buffer keeps
	// before play-out starts (see live.OpenOptions); Sync, when positive,
	// is the delay of synchronised play-out.
	Backlog, Sync time.Duration
}

// SourceOpener opens a play source in the output format. It runs in the
// player's reader goroutine and must honour ctx.
type SourceOpener func(ctx context.Context, req SourceRequest) (audio.Source, error)

var errNoOpener = errors.New("no source opener configured")
