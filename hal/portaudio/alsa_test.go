//go:build cgo

package portaudio

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loaxa/loaxa/audio"
	"github.com/loaxa/loaxa/audio/dsp"
	"github.com/loaxa/loaxa/audio/tone"
	"github.com/loaxa/loaxa/hal"
	"github.com/loaxa/loaxa/internal/audiotest"
)

// childEnv tells the test binary it runs as the child of TestALSAFilePlayback.
const childEnv = "LOAXA_PORTAUDIO_CHILD"

// childReport is what the child tells its parent on stdout.
type childReport struct {
	Name           string
	Latency        time.Duration
	Underruns      int
	AbsentErr      string
	AbsentIsAbsent bool
	Devices        []string
}

var playFormat = audio.Format{Rate: 48000, Channels: 2}

// TestALSAFilePlayback plays a tone through the real PortAudio sink into
// ALSA's file plugin, then checks what reached the "speaker". PortAudio
// reads the ALSA configuration when it initialises, so the playing
// happens in a child process whose HOME holds an .asoundrc that makes the
// default device a file (the machines that run CI have no sound card).
func TestALSAFilePlayback(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		playInChild(t)
		return
	}
	home := t.TempDir()
	raw := filepath.Join(home, "speaker.raw")
	asoundrc := fmt.Sprintf("pcm.!default {\n\ttype file\n\tslave.pcm \"null\"\n\tfile %q\n\tformat \"raw\"\n}\n", raw)
	if err := os.WriteFile(filepath.Join(home, ".asoundrc"), []byte(asoundrc), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestALSAFilePlayback$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"=1", "HOME="+home)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var rep childReport
	for _, line := range strings.Split(string(out), "\n") {
		if js, ok := strings.CutPrefix(strings.TrimSpace(line), "REPORT "); ok {
			if err := json.Unmarshal([]byte(js), &rep); err != nil {
				t.Fatal(err)
			}
		}
	}
	if rep.Name == "" {
		t.Fatalf("child sent no report:\n%s", out)
	}
	t.Logf("child: %+v", rep)

	if !strings.Contains(rep.Name, "default") || !strings.Contains(rep.Name, "48000 Hz × 2 ch") {
		t.Errorf("sink called %q, want the device and format named", rep.Name)
	}
	if !rep.AbsentIsAbsent {
		t.Errorf("opening a device that is not there: %q, want an error wrapping hal.ErrAbsent", rep.AbsentErr)
	}

	data, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	p := make([]int16, len(data)/2)
	for i := range p {
		p[i] = int16(binary.LittleEndian.Uint16(data[2*i:]))
	}
	// The tone starts at phase 0: find it, and where it ends.
	tone := audiotest.TrimSilence(p, playFormat.Channels)
	if len(tone) == 0 {
		t.Fatalf("the speaker received %d bytes of silence", len(data))
	}
	frames := len(tone) / playFormat.Channels
	// A sine that starts and ends near a zero crossing: the first and last
	// samples of the second may themselves be zero.
	if frames < playFormat.Rate-2 || frames > playFormat.Rate {
		t.Errorf("tone lasts %d frames, want %d (1 s)", frames, playFormat.Rate)
	}
	if a := dsp.Goertzel(tone, playFormat, 1000); math.Abs(a-0.5) > 0.005 {
		t.Errorf("1 kHz at %.4f of full scale, want 0.5", a)
	}
	if l := dsp.Level(tone); math.Abs(l-(-9.03)) > 0.1 {
		t.Errorf("level %.2f dBFS RMS, want -9.03", l)
	}
	// Nothing was dropped or repeated at a buffer boundary.
	if step, limit := dsp.MaxStep(tone, 2), int(math.Ceil(2*math.Pi*1000/48000*0.5*32767))+2; step > limit {
		t.Errorf("max sample step %d, a continuous 1 kHz sine steps at most %d", step, limit)
	}
	if len(p)/2-frames > playFormat.Rate/2 {
		t.Errorf("%d frames of silence around the 1 s tone", len(p)/2-frames)
	}
}

// playInChild runs in the child: ALSA's default device is the file.
func playInChild(t *testing.T) {
	var rep childReport
	var err error
	rep.Devices, err = Devices()
	if err != nil {
		t.Fatal(err)
	}

	_, err = Open(Options{Device: "no such loudspeaker", Format: playFormat})
	rep.AbsentIsAbsent = errors.Is(err, hal.ErrAbsent)
	if err != nil {
		rep.AbsentErr = err.Error()
	}

	s, err := Open(Options{Format: playFormat, FramesPerBuffer: 512})
	if err != nil {
		t.Fatal(err)
	}
	src := tone.New(1000, playFormat, 0.5).For(time.Second)
	buf := make([]int16, 2*700) // not a multiple of the device buffer
	for {
		n, err := src.Read(buf)
		if err != nil {
			break
		}
		if err := s.Write(buf[:n]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Drain(); err != nil {
		t.Fatal(err)
	}
	rep.Name, rep.Latency, rep.Underruns = s.String(), s.Latency(), s.Underruns()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := s.Write(buf[:2]); err == nil {
		t.Error("Write after Close succeeded")
	}
	js, _ := json.Marshal(rep)
	fmt.Printf("REPORT %s\n", js)
}
