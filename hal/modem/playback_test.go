package modem

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
)

// playback is a port that plays a recorded exchange, like periph's
// conntest.Playback: each command written must be the next one of the
// transcript, and its recorded answer then becomes readable. A command out
// of order fails the test; so do commands the transcript still expects
// when the test ends (check with leftovers).
type playback struct {
	t     testing.TB
	name  string
	steps []pbStep

	mu     sync.Mutex // guards the fields below
	pos    int
	buf    []byte // answer bytes not read yet
	closed bool
	cond   *sync.Cond
}

type pbStep struct {
	cmd    string
	answer string // raw bytes, CR LF framed
	silent bool   // the modem says nothing
}

// loadTranscript reads a transcript: "> CMD" is a command the host sends,
// each "< LINE" a line of the modem's answer (sent CR LF framed as modems
// do), "<" alone an empty line, "< ~" no answer at all, "#" a comment.
func loadTranscript(t testing.TB, path string) []pbStep {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var steps []pbStep
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
		case strings.HasPrefix(l, "> "):
			steps = append(steps, pbStep{cmd: l[2:]})
		case l == "< ~" && len(steps) > 0:
			steps[len(steps)-1].silent = true
		case (l == "<" || strings.HasPrefix(l, "< ")) && len(steps) > 0:
			steps[len(steps)-1].answer += "\r\n" + strings.TrimPrefix(strings.TrimPrefix(l, "<"), " ") + "\r\n"
		default:
			t.Fatalf("%s:%d: cannot read %q", path, n, l)
		}
	}
	return steps
}

func newPlayback(t testing.TB, name string, steps []pbStep) *playback {
	p := &playback{t: t, name: name, steps: steps}
	p.cond = sync.NewCond(&p.mu)
	return p
}

func (p *playback) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, io.ErrClosedPipe
	}
	cmd := strings.TrimRight(string(b), "\r")
	if p.pos >= len(p.steps) {
		p.t.Errorf("%s: unexpected command %q after the end of the transcript", p.name, cmd)
		return len(b), nil
	}
	s := p.steps[p.pos]
	if cmd != s.cmd {
		p.t.Errorf("%s: command %d is %q, transcript expects %q", p.name, p.pos+1, cmd, s.cmd)
	}
	p.pos++
	if !s.silent {
		p.buf = append(p.buf, s.answer...)
		p.cond.Broadcast()
	}
	return len(b), nil
}

func (p *playback) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.buf) == 0 && !p.closed {
		p.cond.Wait()
	}
	if p.closed {
		return 0, errors.New("playback closed")
	}
	n := copy(b, p.buf)
	p.buf = p.buf[n:]
	return n, nil
}

// inject makes raw bytes readable, as an unsolicited line or noise.
func (p *playback) inject(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, s...)
	p.cond.Broadcast()
}

func (p *playback) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.cond.Broadcast()
	return nil
}

// waitSent waits until n commands of the transcript have been written.
func (p *playback) waitSent(t *testing.T, n int) {
	t.Helper()
	waitFor(t, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.pos >= n
	})
}

// leftovers reports the commands the transcript still expects.
func (p *playback) leftovers() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pos < len(p.steps) {
		return fmt.Errorf("%s: %d commands of the transcript were not sent, starting with %q", p.name, len(p.steps)-p.pos, p.steps[p.pos].cmd)
	}
	return nil
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o644) }
