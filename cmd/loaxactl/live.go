package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"time"

	"github.com/loaxa/loaxa/agent/ladder"
	"github.com/loaxa/loaxa/agent/wire"
	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/audio/dsp"
	"github.com/loaxa/loaxa/audio/live"
	"github.com/loaxa/loaxa/audio/mpg123"
	"github.com/loaxa/loaxa/audio/wav"
	"github.com/loaxa/loaxa/internal/clock"
)

// liveFormat is what loaxactl live sends: Opus works at 48 kHz inside, and
// one voice needs one channel.
var liveFormat = audio.Format{Rate: 48000, Channels: 1}

// liveOptions are the flags of `loaxactl live`.
type liveOptions struct {
	format   string // raw input encoding; "" unless FILE is raw PCM
	rate     int    // raw input rate; 0: 48000
	channels int    // raw input channels; 0: 1
	pcm      bool   // send PCM frames instead of Opus
	bitrate  int    // Opus bit/s
	loss     float64
	jitter   time.Duration
	play     string // --play: a group, or dev/DEVICE
	priority string
	sync     bool
}

func (l *liveOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&l.format, "format", "", "live: FILE (or -, stdin) is raw PCM in this encoding; only s16le (signed 16-bit little-endian interleaved)")
	fs.IntVar(&l.rate, "rate", 0, "live: sample rate of raw PCM input in Hz (default 48000)")
	fs.IntVar(&l.channels, "channels", 0, "live: channels of raw PCM input, 1 or 2 (default 1)")
	fs.BoolVar(&l.pcm, "pcm", false, "live: send raw PCM frames (768 kbit/s) instead of Opus")
	fs.IntVar(&l.bitrate, "bitrate", live.DefaultBitrate, "live: Opus bitrate in bit/s")
	fs.Float64Var(&l.loss, "loss", 0, "live, for tests: drop this `percent` of frames at random (never the last)")
	fs.DurationVar(&l.jitter, "jitter", 0, "live, for tests: delay each frame by a random time up to this, which reorders frames")
	fs.StringVar(&l.play, "play", "", "live: first send a play of the channel to this `GROUP` (or dev/DEVICE), then talk at once; frames wait for the poles' acks")
	fs.StringVar(&l.priority, "priority", "live", "live --play: the play's priority")
	fs.BoolVar(&l.sync, "sync", false, "live --play: the poles play in step (each plays the sample captured at T at T + audio.sync_delay_ms)")
}

// live handles `live CHANNEL FILE|-`: it sends the audio as live frames in
// real time, one frame per 20 ms of audio, and ends the talk with a frame
// flagged last (also on Ctrl-C).
func (c *CLI) live(ctx context.Context, o *options, pos []string) int {
	l := &o.live
	if o.group != "" {
		return c.usageError("--group is for send; live takes a CHANNEL")
	}
	if len(pos) != 2 {
		return c.usageError("live takes CHANNEL FILE (or - for stdin), got %d argument(s)", len(pos))
	}
	channel, file := pos[0], pos[1]
	if !wire.ValidID(channel) {
		return c.usageError("channel %q: expected 3-64 characters of a-z, 0-9 and '-'", channel)
	}
	if l.loss < 0 || l.loss >= 100 {
		return c.usageError("--loss must be 0 to below 100 percent, got %v", l.loss)
	}
	if l.jitter < 0 {
		return c.usageError("--jitter must not be negative, got %v", l.jitter)
	}
	if l.play != "" {
		if _, err := parsePlayTarget(l.play); err != nil {
			return c.usageError("%v", err)
		}
		if _, ok := ladder.ParseLevel(l.priority); !ok {
			return c.usageError("--priority %q: expected background, normal, priority, live or emergency", l.priority)
		}
	} else if l.sync {
		return c.usageError("--sync goes with --play: it is an argument of the play")
	}
	codec := live.CodecOpus
	if l.pcm {
		codec = live.CodecPCM
	}
	enc, err := live.NewEncoder(live.EncoderOptions{Codec: codec, Format: liveFormat, Bitrate: l.bitrate})
	if err != nil {
		return c.usageError("%v", err)
	}
	src, err := c.openInput(l, file)
	if err != nil {
		return c.usageError("%v", err)
	}
	defer src.Close()
	if err := checkInput(src.Format()); err != nil {
		return c.usageError("%s: %v", file, err)
	}

	cl, code := c.dial(ctx, o)
	if cl == nil {
		return code
	}
	defer cl.Disconnect(250)
	timeout := o.timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	topic := wire.Topics{Root: o.root}.Live(channel)
	publishOne := func(ctx context.Context, f live.Frame) int {
		b, err := f.Marshal()
		if err != nil { // cannot happen: the encoder makes valid frames
			fmt.Fprintf(c.Stderr, "loaxactl: frame %d: %v\n", f.Seq, err)
			return ExitFailed
		}
		return c.brokerOp(ctx, cl.Publish(topic, 0, false, b), "publish to "+topic, timeout)
	}
	publish := publishOne
	var g *gate
	if l.play != "" {
		g = newGate(false)
		stop, code := c.playLive(ctx, o, cl, channel, g)
		if code != ExitOK {
			return code
		}
		defer stop()
		publish = func(ctx context.Context, f live.Frame) int {
			out, failed := g.pass(f)
			if failed != "" {
				fmt.Fprintf(c.Stderr, "loaxactl: %s; the talk is not sent\n", failed)
				return ExitFailed
			}
			for _, f := range out {
				if code := publishOne(ctx, f); code != ExitOK {
					return code
				}
			}
			return ExitOK
		}
	}
	what := "Opus " + fmt.Sprint(l.bitrate/1000) + " kbit/s"
	if l.pcm {
		what = "PCM"
	}
	fmt.Fprintf(c.Stderr, "loaxactl: live on %s: %v → %v %s, %v frames (Ctrl-C ends the talk)\n",
		topic, src.Format(), liveFormat, what, live.DefaultFrameDuration)

	t := &talk{c: c, enc: enc, src: dsp.Convert(src, liveFormat), l: l, publish: publish,
		rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
	code = t.run(ctx)
	if g != nil && code == ExitOK {
		// A talk shorter than the poles' answer: send it once they did.
		select {
		case <-g.opened:
		case <-ctx.Done():
		}
		if out, failed := g.pass(live.Frame{}); failed == "" {
			for _, f := range out[:len(out)-1] {
				if code = publishOne(ctx, f); code != ExitOK {
					break
				}
			}
		}
	}
	d := time.Duration(t.sent+t.dropped) * live.DefaultFrameDuration
	fmt.Fprintf(c.Stdout, "%s: sent %d frames (%v of audio)", topic, t.sent, d)
	if t.dropped > 0 {
		fmt.Fprintf(c.Stdout, ", dropped %d (--loss)", t.dropped)
	}
	fmt.Fprintln(c.Stdout)
	return code
}

// checkInput refuses input formats that cannot be converted.
func checkInput(f audio.Format) error {
	if !f.Valid() {
		return fmt.Errorf("audio of %v cannot be sent: expected 8000–192000 Hz, 1 or 2 channels", f)
	}
	return nil
}

// openInput opens FILE, or stdin for "-": raw PCM when --format is given
// (stdin must be raw), else WAV or MP3 by their first bytes.
func (c *CLI) openInput(l *liveOptions, file string) (audio.Source, error) {
	raw := l.format != "" || file == "-"
	if !raw && (l.rate != 0 || l.channels != 0) {
		return nil, errors.New("--rate and --channels describe raw PCM input: add --format s16le")
	}
	if raw {
		if l.format != "s16le" {
			return nil, fmt.Errorf("--format %q: expected s16le (stdin and raw files must be signed 16-bit little-endian PCM)", l.format)
		}
		f := audio.Format{Rate: l.rate, Channels: l.channels}
		if f.Rate == 0 {
			f.Rate = 48000
		}
		if f.Channels == 0 {
			f.Channels = 1
		}
		if err := checkInput(f); err != nil {
			return nil, fmt.Errorf("--rate/--channels: %w", err)
		}
		var r io.ReadCloser = io.NopCloser(c.stdin())
		if file != "-" {
			fh, err := os.Open(file)
			if err != nil {
				return nil, err
			}
			r = fh
		}
		return &rawSource{r: r, f: f}, nil
	}
	fh, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReader(fh)
	head, _ := br.Peek(12) // a short file is judged on what there is
	var src audio.Source
	switch {
	case len(head) == 12 && bytes.Equal(head[:4], []byte("RIFF")) && bytes.Equal(head[8:], []byte("WAVE")):
		src, err = wav.NewReader(br)
	default:
		src, err = openMP3(br)
	}
	if err != nil {
		fh.Close()
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return closeBoth{src, fh}, nil
}

func (c *CLI) stdin() io.Reader {
	if c.Stdin != nil {
		return c.Stdin
	}
	return os.Stdin
}

// closeBoth closes a decoder and the file under it.
type closeBoth struct {
	audio.Source
	f io.Closer
}

func (s closeBoth) Close() error { return errors.Join(s.Source.Close(), s.f.Close()) }

// rawSource reads interleaved s16le PCM; a partial frame at the end is
// dropped.
type rawSource struct {
	r    io.ReadCloser
	f    audio.Format
	buf  []byte
	have int // bytes in buf not yet converted
	err  error
}

func (s *rawSource) Format() audio.Format { return s.f }
func (s *rawSource) Close() error         { return s.r.Close() }

func (s *rawSource) Read(p []int16) (int, error) {
	frame := 2 * s.f.Channels
	want := (len(p) / s.f.Channels) * frame
	if want == 0 {
		return 0, nil
	}
	if cap(s.buf) < want {
		s.buf = append(make([]byte, 0, want), s.buf[:s.have]...)
	}
	s.buf = s.buf[:want]
	for s.have < frame && s.err == nil {
		var n int
		n, s.err = s.r.Read(s.buf[s.have:])
		s.have += n
	}
	whole := s.have - s.have%frame
	if whole == 0 {
		if s.err == io.EOF {
			return 0, io.EOF
		}
		return 0, fmt.Errorf("read PCM: %w", s.err)
	}
	for i := range whole / 2 {
		p[i] = int16(binary.LittleEndian.Uint16(s.buf[2*i:]))
	}
	s.have = copy(s.buf, s.buf[whole:s.have])
	return whole / 2, nil
}

// talk sends one talk's frames, paced by the CLI's clock.
type talk struct {
	c       *CLI
	enc     *live.Encoder
	src     audio.Source // at liveFormat
	l       *liveOptions
	publish func(context.Context, live.Frame) int
	rng     *rand.Rand

	sent, dropped int
}

// delayed is a frame waiting for its (jittered) publish time.
type delayed struct {
	at time.Time
	f  live.Frame
}

// run sends every frame of the input: frame k is made at start + k·20 ms
// (capture time = now) and published then, or later by --jitter. Ctrl-C
// ends the talk with a silent frame flagged last.
func (t *talk) run(ctx context.Context) int {
	clk := t.c.Clock
	n := t.enc.FrameSamples() * liveFormat.Channels
	cur, err := t.readFrame(n)
	if errors.Is(err, io.EOF) {
		fmt.Fprintln(t.c.Stderr, "loaxactl: the input holds no audio; nothing was sent")
		return ExitFailed
	}
	if err != nil {
		fmt.Fprintf(t.c.Stderr, "loaxactl: %v\n", err)
		return ExitFailed
	}
	start := clk.Now()
	// The timer is made the first time there is a wait, not armed and
	// stopped ahead of it: a test's fake clock counts an armed timer as
	// a wait, and advancing it then would move the frames' times.
	var timer clock.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	var queue []delayed // sorted by at
	done := false       // the last frame was made
	for k := 0; !done || len(queue) > 0; {
		due := start.Add(time.Duration(k) * live.DefaultFrameDuration)
		wake := due
		if done || len(queue) > 0 && queue[0].at.Before(due) {
			wake = queue[0].at
		}
		if d := wake.Sub(clk.Now()); d > 0 {
			if timer == nil {
				timer = clk.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			select {
			case <-timer.C():
			case <-ctx.Done():
				t.end()
				return ExitInterrupted
			}
		}
		now := clk.Now()
		if !done && !now.Before(due) {
			next, nextErr := t.readFrame(n)
			if nextErr != nil && !errors.Is(nextErr, io.EOF) {
				fmt.Fprintf(t.c.Stderr, "loaxactl: %v\n", nextErr)
				t.end()
				return ExitFailed
			}
			last := next == nil
			f, err := t.enc.Encode(cur, now, last)
			if err != nil {
				fmt.Fprintf(t.c.Stderr, "loaxactl: %v\n", err)
				return ExitFailed
			}
			k++
			cur, done = next, last
			switch {
			case !last && t.rng.Float64()*100 < t.l.loss:
				t.dropped++
			default:
				at := now
				if t.l.jitter > 0 {
					at = now.Add(time.Duration(t.rng.Int64N(int64(t.l.jitter))))
				}
				i, _ := slices.BinarySearchFunc(queue, at, func(d delayed, at time.Time) int {
					if d.at.After(at) {
						return 1
					}
					return -1 // equal times keep their order
				})
				queue = slices.Insert(queue, i, delayed{at, f})
			}
		}
		for len(queue) > 0 && !queue[0].at.After(now) {
			if code := t.publish(ctx, queue[0].f); code != ExitOK {
				if code == ExitInterrupted {
					t.end()
				}
				return code
			}
			queue = queue[1:]
			t.sent++
		}
	}
	return ExitOK
}

// readFrame reads n samples, padding the end of the input with silence;
// nil, io.EOF when the input had nothing left.
func (t *talk) readFrame(n int) ([]int16, error) {
	buf := make([]int16, n)
	got := 0
	for got < n {
		m, err := t.src.Read(buf[got:])
		got += m
		if errors.Is(err, io.EOF) {
			if got == 0 {
				return nil, io.EOF
			}
			return buf, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read input: %w", err)
		}
	}
	return buf, nil
}

// end ends the talk at once with a frame of silence flagged last, so the
// poles stop without waiting for their silence timeout.
func (t *talk) end() {
	f, err := t.enc.Encode(make([]int16, t.enc.FrameSamples()*liveFormat.Channels), t.c.Clock.Now(), true)
	if err != nil {
		return
	}
	// The caller's context may have ended: the end frame gets its own.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if t.publish(ctx, f) == ExitOK {
		t.sent++
		fmt.Fprintln(t.c.Stderr, "loaxactl: the talk was ended early")
	}
}

// openMP3 decodes MP3 with libmpg123; anything that is neither WAV nor
// MP3 ends up here too and is refused.
func openMP3(r io.Reader) (audio.Source, error) {
	rd, err := mpg123.NewReader(r)
	if errors.Is(err, mpg123.ErrNoAudio) {
		return nil, errors.New("neither a WAV nor an MP3 file; for raw PCM add --format s16le")
	}
	if err != nil {
		return nil, err
	}
	rate, channels := rd.Format()
	return &mp3Source{rd: rd, f: audio.Format{Rate: rate, Channels: channels}}, nil
}

// mp3Source is an MP3 file as an audio.Source. A file whose format
// changes midway (a rare, usually corrupt, file) fails: a talk has one
// format.
type mp3Source struct {
	rd *mpg123.Reader
	f  audio.Format
}

func (s *mp3Source) Format() audio.Format { return s.f }
func (s *mp3Source) Close() error         { return s.rd.Close() }

func (s *mp3Source) Read(p []int16) (int, error) {
	n, err := s.rd.Read(p)
	if errors.Is(err, mpg123.ErrNewFormat) {
		if rate, ch := s.rd.Format(); rate != s.f.Rate || ch != s.f.Channels {
			return n, fmt.Errorf("the MP3 changes from %v to %d Hz × %d ch midway", s.f, rate, ch)
		}
		err = nil
	}
	return n, err
}
