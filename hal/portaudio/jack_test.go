//go:build cgo

package portaudio

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loaxa/loaxa/audio/dsp"
	"github.com/loaxa/loaxa/audio/tone"
	"github.com/loaxa/loaxa/internal/audiotest"
	"github.com/loaxa/loaxa/internal/testenv"
)

// jackChildEnv names the file the child of TestJACKPlaysWhatWasWritten
// records the speaker into.
const jackChildEnv = "LOAXA_PORTAUDIO_JACK_CHILD"

// TestJACKPlaysWhatWasWritten plays a 1 kHz tone through the Sink on
// JACK's dummy driver and records what reached JACK with jack_rec.
// PortAudio's blocking JACK layer takes every frame to be two float32
// samples whatever the stream's format: an int16 stream read twice the
// caller's buffer and overran PortAudio's own buffer at every period,
// which played garbage and corrupted the C heap ("malloc(): invalid
// size", an agent that died seconds into an item on JACK). The playing
// happens in a child: PortAudio finds the JACK server when it initialises.
//
// The second case is how the agent plays: the Sink's default options,
// writes of the player's 40 ms batches, JACK periods of 10 ms. PortAudio
// handed JACK the stream in transfers of FramesPerBuffer (2,048 frames)
// taken whole from a buffer of the same size, filling with silence what
// was not there: each 1,920-frame write left 128 frames of it, a 2.7 ms
// gap every 43 ms, and the tone played 6% slow. The third is live
// audio's 10 ms blocks: they must not fill the whole buffer, which would
// delay the talk by all of it (85 ms on top of the jitter buffer).
//
// The Sink now feeds JACK from a queue of its own, which PortAudio's
// callback reads: the first case, JACK's periods twice the Sink's
// transfers, found it empty at every period (47 gaps in 2 s) until the
// queue kept a whole JACK period. "a pause" stops writing for 300 ms
// mid-play: the Sink must count that underrun, and never the end of the
// audio when it drains. "mono" must sound on both ports, as it did when
// the Sink converted to stereo itself for PortAudio's blocking layer.
// "the start" records from before the first write: PortAudio calls the
// callback in the JACK cycle that starts the stream, and a first write
// shorter than the cycle played, then silence (700 frames, then 1,348).
func TestJACKPlaysWhatWasWritten(t *testing.T) {
	if out := os.Getenv(jackChildEnv); out != "" {
		var c jackCase
		if _, err := fmt.Sscan(os.Getenv(jackChildEnv+"_CASE"), &c.fpb, &c.write, &c.pauseMS, &c.mono, &c.fromStart); err != nil {
			t.Fatal(err)
		}
		playToJACK(t, out, c)
		return
	}
	testenv.NeedTools(t, testenv.Tool{Cmd: "jack_rec", Package: "jackd2"}, testenv.Tool{Cmd: "jack_lsp", Package: "jackd2"})
	for _, c := range []struct {
		name   string
		period int
		jackCase
		// gaps bounds the stretches of silence inside the recording: a
		// machine too loaded to keep up may leave a few (JACK's dummy
		// driver runs without real-time priority), a Sink that plays
		// silence of its own leaves dozens. It bounds the underruns the
		// Sink counts too.
		gaps int
	}{
		{"odd writes", 2048, jackCase{fpb: 1024, write: 700}, 3},
		{"player batches", 480, jackCase{fpb: 0, write: 1920}, 3},
		{"live blocks", 480, jackCase{fpb: 0, write: 480}, 3},
		{"a pause", 480, jackCase{fpb: 0, write: 1920, pauseMS: 300}, 4},
		{"mono", 480, jackCase{fpb: 0, write: 1920, mono: true}, 3},
		{"the start", 2048, jackCase{fpb: 1024, write: 700, fromStart: true}, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			j := audiotest.StartJACK(t, c.period)
			rec := filepath.Join(t.TempDir(), "speaker.wav")
			cmd := exec.Command(os.Args[0], "-test.run=^TestJACKPlaysWhatWasWritten$", "-test.v")
			// HOME: no asoundrc of the machine's user changes what PortAudio sees.
			cmd.Env = append(os.Environ(), jackChildEnv+"="+rec, fmt.Sprintf("%s_CASE=%d %d %d %t %t", jackChildEnv, c.fpb, c.write, c.pauseMS, c.mono, c.fromStart), j.Env(), "HOME="+t.TempDir())
			testenv.DieWithTest(cmd)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			queued, size := said(t, out, queuedRE)
			t.Logf("queued at most %d frames of a buffer of %d", queued, size)
			before, after := said(t, out, underrunsRE)
			t.Logf("%d underrun(s)", before)
			if after != before {
				t.Errorf("the drain at the end counted %d underrun(s)", after-before)
			}
			if c.pauseMS > 0 && before == 0 {
				t.Errorf("a pause of %d ms mid-play counted no underrun", c.pauseMS)
			}
			if before > c.gaps {
				t.Errorf("%d underruns, want at most %d", before, c.gaps)
			}
			// A write waits for a transfer's room, so at most a transfer
			// and the write itself are queued (plus one JACK period the
			// callback has not taken yet).
			if bound := DefaultFramesPerBuffer + c.write + c.period; c.fpb == 0 && queued > bound {
				t.Errorf("%d-frame writes kept up to %d frames queued in a buffer of %d, want at most %d", c.write, queued, size, bound)
			}
			data, err := os.ReadFile(rec)
			if err != nil {
				t.Fatal(err)
			}
			p := audiotest.Decode(t, "speaker.wav", data)
			// A mono stream plays on both of the Sink's ports.
			if c.mono {
				for i := 0; i+1 < len(p); i += 2 {
					if p[i] != p[i+1] {
						t.Fatalf("mono: frame %d is %d on the left, %d on the right", i/2, p[i], p[i+1])
					}
				}
			}
			// The recording holds the tone, perhaps with gaps of digital
			// silence. Each stretch of sound must be the sine, continuous:
			// no skipped or foreign samples.
			runs := soundRuns(p, playFormat.Channels)
			var longest []int16
			total := 0
			limit := int(math.Ceil(2*math.Pi*1000/48000*0.5*32767)) + 4
			for _, r := range runs {
				total += len(r) / playFormat.Channels
				if len(r) > len(longest) {
					longest = r
				}
				if step := dsp.MaxStep(r, playFormat.Channels); step > limit {
					t.Errorf("a stretch of %d frames steps by %d, a continuous 1 kHz sine by at most %d", len(r)/playFormat.Channels, step, limit)
				}
			}
			t.Logf("recorded %d frames, %d of sound in %d stretch(es)", len(p)/playFormat.Channels, total, len(runs))
			if total < playFormat.Rate/2 {
				t.Fatalf("only %d frames of sound in the recording, want at least %d", total, playFormat.Rate/2)
			}
			if a := dsp.Goertzel(longest, playFormat, 1000); math.Abs(a-0.5) > 0.02 {
				t.Errorf("1 kHz at %.4f of full scale, want 0.5", a)
			}
			if c.fromStart && len(runs) > 0 && len(runs[0]) < playFormat.Rate/5*playFormat.Channels {
				t.Errorf("the first stretch of sound lasts %d frames, then silence: want the tone unbroken from its start", len(runs[0])/playFormat.Channels)
			}
			if c.pauseMS > 0 && len(runs) < 2 {
				t.Errorf("a pause of %d ms mid-play left no gap in the recording", c.pauseMS)
			}
			if len(runs)-1 > c.gaps {
				t.Errorf("the tone has %d gaps of silence in %d s, want at most %d", len(runs)-1, len(p)/playFormat.Channels/playFormat.Rate, c.gaps)
			}
		})
	}
}

// said returns the two numbers the child reported in the line re finds.
func said(t *testing.T, out []byte, re *regexp.Regexp) (int, int) {
	t.Helper()
	m := re.FindSubmatch(out)
	if m == nil {
		t.Fatalf("the child did not say %q:\n%s", re, out)
	}
	a, _ := strconv.Atoi(string(m[1]))
	b, _ := strconv.Atoi(string(m[2]))
	return a, b
}

// queuedRE and underrunsRE find what the child reports of the Sink.
var (
	queuedRE    = regexp.MustCompile(`queued at most (\d+) of (\d+) frames`)
	underrunsRE = regexp.MustCompile(`(\d+) underruns before the drain, (\d+) after`)
)

// jackCase is how the child plays: the Sink's FramesPerBuffer (0: its
// default), the frames in each write, a pause in the writes (ms) once
// 1.5 s are written (0: none), a mono stream instead of stereo, and a
// recording from before the first write instead of once it plays.
type jackCase struct {
	fpb, write, pauseMS int
	mono, fromStart     bool
}

// soundRuns splits interleaved p at every run of two or more frames of
// digital silence (a sampled 1 kHz sine is zero on one frame at most).
func soundRuns(p []int16, ch int) [][]int16 {
	frames := len(p) / ch
	// silent: frame i is digital silence; the edges count as silence.
	silent := func(i int) bool {
		if i < 0 || i >= frames {
			return true
		}
		for _, v := range p[i*ch : (i+1)*ch] {
			if v != 0 {
				return false
			}
		}
		return true
	}
	var runs [][]int16
	start := -1
	for i := 0; i <= frames; i++ {
		gap := i == frames || silent(i) && (i > 0 && silent(i-1) || silent(i+1))
		switch {
		case !gap && start < 0:
			start = i
		case gap && start >= 0:
			runs = append(runs, p[start*ch:i*ch])
			start = -1
		}
	}
	return runs
}

// playToJACK runs in the child: it plays the tone for 4 s to JACK's
// "system" device and, once it plays (or from before it starts:
// c.fromStart), records 2 s of the Sink's ports.
func playToJACK(t *testing.T, rec string, c jackCase) {
	f := playFormat
	if c.mono {
		f.Channels = 1
	}
	s, err := Open(Options{Device: "system", Format: f, FramesPerBuffer: c.fpb})
	if err != nil {
		t.Fatal(err)
	}
	if s.ring == nil {
		t.Fatalf("%v does not play from a queue of its own", s)
	}
	size := int(s.ring.size)
	queued, underruns := 0, 0
	written := make(chan error, 1)
	begin, playing := make(chan struct{}), make(chan struct{})
	go func() {
		<-begin
		src := tone.New(1000, f, 0.5).For(4 * time.Second)
		buf := make([]int16, f.Channels*c.write)
		started := false
		for n := 1; ; n++ {
			k, err := src.Read(buf)
			if err != nil {
				break
			}
			if err := s.Write(buf[:k]); err != nil {
				written <- err
				return
			}
			queued = max(queued, s.ring.queued())
			if !started && n*c.write >= playFormat.Rate/2 { // half a second written: the stream runs
				started = true
				close(playing)
			}
			if c.pauseMS > 0 && n*c.write >= playFormat.Rate*3/2 {
				time.Sleep(time.Duration(c.pauseMS) * time.Millisecond)
				c.pauseMS = 0
			}
		}
		underruns = s.Underruns()
		written <- s.Drain()
	}()
	if !c.fromStart {
		close(begin)
		<-playing
	}
	lsp, err := exec.Command("jack_lsp").Output()
	if err != nil {
		t.Fatalf("jack_lsp: %v", err)
	}
	var ports []string
	for _, p := range strings.Fields(string(lsp)) {
		if !strings.HasPrefix(p, "system:") {
			ports = append(ports, p)
		}
	}
	if len(ports) != 2 {
		t.Fatalf("the Sink's JACK ports: %q, want two", ports)
	}
	var logs bytes.Buffer
	cmd := exec.Command("jack_rec", append([]string{"-f", rec, "-d", "2", "-b", "16"}, ports...)...)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("jack_rec: %v", err)
	}
	if c.fromStart {
		time.Sleep(500 * time.Millisecond) // jack_rec connects
		close(begin)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("jack_rec: %v\n%s", err, logs.Bytes())
	}
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	fmt.Printf("queued at most %d of %d frames\n", queued, size)
	fmt.Printf("%d underruns before the drain, %d after\n", underruns, s.Underruns())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	fmt.Println("played and recorded")
}

// jackGoneEnv tells the child of TestJACKGoneEndsTheWrite to play.
const jackGoneEnv = "LOAXA_PORTAUDIO_JACK_GONE"

// A JACK server that stops while the Sink plays stops calling its
// callback, and the Sink's queue never empties again. The write waiting
// for room must then fail, within seconds, and Close must return: a
// write that waited for ever would hold the player until the guard gave
// the device up, and a leaked wait in every reopen after it. PortAudio's
// stop then waits for a callback that does not come (over 20 s seen, for
// ever in PortAudio 19.6's JACK code), so Close leaves the stream open,
// and Open must refuse from then on (ErrWedged: restart the agent).
func TestJACKGoneEndsTheWrite(t *testing.T) {
	if os.Getenv(jackGoneEnv) != "" {
		playUntilGone(t)
		return
	}
	j := audiotest.StartJACK(t, 480)
	cmd := exec.Command(os.Args[0], "-test.run=^TestJACKGoneEndsTheWrite$", "-test.v")
	cmd.Env = append(os.Environ(), jackGoneEnv+"=1", j.Env(), "HOME="+t.TempDir())
	testenv.DieWithTest(cmd)
	var out testenv.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		<-done
	}()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), "playing") {
		if time.Now().After(deadline) {
			t.Fatalf("the child did not start playing:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	j.Stop()
	stopped := time.Now()
	select {
	case err := <-done:
		done <- err
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out.String())
		}
	case <-time.After(ringStall + 20*time.Second):
		// Where it waits: SIGQUIT has the child print its goroutines.
		cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case err := <-done:
			done <- err
		case <-time.After(5 * time.Second):
		}
		t.Fatalf("the write and the close did not end %v after JACK stopped:\n%s", time.Since(stopped), out.String())
	}
	t.Logf("child:\n%s", out.String())
	for _, want := range []string{"write failed: ", "then drain: portaudio: draining JACK Audio Connection Kit: system: " + errStalled.Error(),
		"then write: portaudio: writing to JACK Audio Connection Kit: system: " + errStalled.Error(), "closed: ", "reopen refused: true"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the child did not say %q:\n%s", want, out.String())
		}
	}
}

// playUntilGone runs in the child: it plays a tone until a write fails,
// for 60 s at most, then closes the Sink.
func playUntilGone(t *testing.T) {
	s, err := Open(Options{Device: "system", Format: playFormat})
	if err != nil {
		t.Fatal(err)
	}
	src := tone.New(1000, playFormat, 0.5).For(60 * time.Second)
	buf := make([]int16, playFormat.Channels*1920)
	for n := 1; ; n++ {
		k, err := src.Read(buf)
		if err != nil {
			t.Fatal("60 s played, and no write failed")
		}
		if err := s.Write(buf[:k]); err != nil {
			fmt.Println("write failed:", err)
			// The stream stays stalled: no start on a stream that was
			// never stopped ("Stream is not stopped"), no ten-minute stop.
			fmt.Println("then drain:", s.Drain())
			fmt.Println("then write:", s.Write(buf[:k]))
			break
		}
		if n == 25 {
			fmt.Println("playing")
		}
	}
	err = s.Close()
	fmt.Println("closed:", err)
	_, err = Open(Options{Device: "system", Format: playFormat})
	fmt.Println("reopen refused:", errors.Is(err, ErrWedged), err)
}
