package sim

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// SpeakerTiming is one record of DATA_DIR/sim/speaker.timing.jsonl: a
// block written to the simulated speaker and when its first sample left
// the (simulated) DAC, so that a test or an operator can tell from
// outside the process when each sample of speaker.wav sounded.
type SpeakerTiming struct {
	// Frame is the index, in speaker.wav, of the block's first frame
	// (a frame is one sample per channel).
	Frame int64 `json:"frame"`
	// Frames is the block's length.
	Frames int64 `json:"frames"`
	// UnixNS is when its first frame played, in ns since the Unix epoch.
	UnixNS int64 `json:"unix_ns"`
}

// TimingPath is the timing file that goes with a speaker recording:
// speaker.wav → speaker.timing.jsonl. It is replaced and rotated with it.
func TimingPath(wavPath string) string {
	return strings.TrimSuffix(wavPath, filepath.Ext(wavPath)) + ".timing.jsonl"
}

// timingLog appends the records, buffered: they are flushed with the WAV
// header (every second of audio), at Drain and at Close, so a reader is at
// most that much behind the WAV file.
type timingLog struct {
	f   *os.File
	w   *bufio.Writer
	buf []byte
}

func openTiming(path string) (*timingLog, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("sim: audio sink timing: %w", err)
	}
	return &timingLog{f: f, w: bufio.NewWriterSize(f, 16<<10)}, nil
}

// add records a block; written by hand, it costs the hot path nothing
// of note (one line per write).
func (t *timingLog) add(frame, frames int64, start time.Time) {
	if t == nil {
		return
	}
	b := append(t.buf[:0], `{"frame":`...)
	b = strconv.AppendInt(b, frame, 10)
	b = append(b, `,"frames":`...)
	b = strconv.AppendInt(b, frames, 10)
	b = append(b, `,"unix_ns":`...)
	b = strconv.AppendInt(b, start.UnixNano(), 10)
	b = append(b, "}\n"...)
	t.buf = b
	t.w.Write(b) // a failure shows at the next flush
}

func (t *timingLog) flush() error {
	if t == nil {
		return nil
	}
	if err := t.w.Flush(); err != nil {
		return fmt.Errorf("sim: audio sink timing: %w", err)
	}
	return nil
}

func (t *timingLog) close() error {
	if t == nil {
		return nil
	}
	err := t.flush()
	if cerr := t.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("sim: audio sink timing: %w", cerr)
	}
	return err
}

// ReadSpeakerTiming reads the timing records of the speaker recording at
// wavPath (DATA_DIR/sim/speaker.wav), in order. A last line still being
// written is left out.
func ReadSpeakerTiming(wavPath string) ([]SpeakerTiming, error) {
	var out []SpeakerTiming
	err := readJSONLines(TimingPath(wavPath), func(line []byte) error {
		var r SpeakerTiming
		if err := json.Unmarshal(line, &r); err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	return out, err
}

// SoundedAt returns when frame (an index in speaker.wav) left the DAC,
// from the recording's timing records at rate Hz, and false when no
// record covers it.
func SoundedAt(recs []SpeakerTiming, frame int64, rate int) (time.Time, bool) {
	i := sort.Search(len(recs), func(i int) bool { return recs[i].Frame+recs[i].Frames > frame })
	if i == len(recs) || recs[i].Frame > frame {
		return time.Time{}, false
	}
	r := recs[i]
	off := time.Duration((frame - r.Frame) * int64(time.Second) / int64(rate))
	return time.Unix(0, r.UnixNS).Add(off), true
}
