package modem

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/loaxa/loaxa/internal/atomicfile"
)

// Names of the files in the modem's directory.
const (
	stateFile = "state"
	rsrpFile  = "rsrp"
	gnssFile  = "gnss"
	logFile   = "at.log"
)

// maxControlFile bounds what is read of a control file.
const maxControlFile = 256

func createControlFiles(dir string) error {
	for name, content := range map[string]string{
		stateFile: string(StateRegistered) + "\n",
		rsrpFile:  strconv.FormatFloat(DefaultRSRP, 'f', -1, 64) + "\n",
		gnssFile:  "",
	} {
		path := filepath.Join(dir, name)
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if _, err := atomicfile.WriteFile(path, []byte(content), 0o644); err != nil {
			return fmt.Errorf("sim modem: %w", err)
		}
	}
	return nil
}

// WriteState sets the emulated modem's state through its control file, as
// a person or a test outside the process would.
func WriteState(dir string, s State) error {
	if !slices.Contains(States, s) {
		return fmt.Errorf("sim modem: state %q: want one of %v", s, States)
	}
	_, err := atomicfile.WriteFile(filepath.Join(dir, stateFile), []byte(string(s)+"\n"), 0o644)
	return err
}

// WriteRSRP sets the RSRP the modem reports, in dBm.
func WriteRSRP(dir string, dbm float64) error {
	_, err := atomicfile.WriteFile(filepath.Join(dir, rsrpFile), []byte(strconv.FormatFloat(dbm, 'f', -1, 64)+"\n"), 0o644)
	return err
}

// WriteGNSS sets the position the modem's receiver reports; nil: no fix.
func WriteGNSS(dir string, latLon *[2]float64) error {
	s := ""
	if latLon != nil {
		s = fmt.Sprintf("%g,%g\n", latLon[0], latLon[1])
	}
	_, err := atomicfile.WriteFile(filepath.Join(dir, gnssFile), []byte(s), 0o644)
	return err
}

// readControls reads the control files into m.radio. A file that is
// missing or holds something that makes no sense leaves its value as it
// was (and says so in the log, once per new content).
func (m *Modem) readControls() {
	state, sOK := readControl(m, stateFile, func(s string) (State, error) {
		st := State(strings.ToLower(s))
		if !slices.Contains(States, st) {
			return "", fmt.Errorf("want one of %v", States)
		}
		return st, nil
	})
	rsrp, rOK := readControl(m, rsrpFile, func(s string) (float64, error) {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(v) || v < -156 || v > -31 {
			return 0, errors.New("want an RSRP in dBm between -156 and -31, e.g. -95")
		}
		return v, nil
	})
	gnss, gOK := readControl(m, gnssFile, parseLatLon)

	m.mu.Lock()
	old := m.radio
	if sOK {
		m.radio.state = state
	}
	if rOK {
		m.radio.rsrp = rsrp
	}
	if gOK {
		m.radio.gnss = gnss
	}
	t := m.cur
	var urc string
	if t != nil && old.state != m.radio.state {
		// A modem that was asked to (AT+CEREG=1 or 2) reports its
		// registration changes unsolicited.
		if n := t.vol.regN["+CEREG"]; n >= 1 {
			urc = fmt.Sprintf("\r\n+CEREG: %d\r\n", m.radio.stat(&t.vol))
		}
	}
	m.mu.Unlock()
	if urc != "" {
		m.write(t, urc)
	}
}

// readControl reads one control file and parses its trimmed content.
func readControl[T any](m *Modem, name string, parse func(string) (T, error)) (T, bool) {
	var zero T
	path := filepath.Join(m.o.Dir, name)
	f, err := os.Open(path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			m.log.Warn("sim modem: control file", "file", path, "err", err)
		}
		return zero, false
	}
	defer f.Close()
	buf := make([]byte, maxControlFile+1)
	n, _ := f.Read(buf)
	tooLong := n > maxControlFile
	s := strings.TrimSpace(string(buf[:min(n, maxControlFile)]))
	v, err := parse(s)
	if tooLong {
		err = fmt.Errorf("longer than %d bytes", maxControlFile)
	}
	if err != nil {
		m.mu.Lock()
		m.ignored++
		first := m.badContent[name] != s
		m.badContent[name] = s
		m.mu.Unlock()
		if first { // once per new content, not every tick
			m.log.Warn("sim modem: control file ignored", "file", path, "content", s, "err", err)
		}
		return zero, false
	}
	m.mu.Lock()
	delete(m.badContent, name)
	m.mu.Unlock()
	return v, true
}

// parseLatLon reads "LAT,LON" in decimal degrees; empty means no fix.
func parseLatLon(s string) (*[2]float64, error) {
	if s == "" {
		return nil, nil
	}
	a, b, ok := strings.Cut(s, ",")
	lat, err1 := strconv.ParseFloat(strings.TrimSpace(a), 64)
	lon, err2 := strconv.ParseFloat(strings.TrimSpace(b), 64)
	if !ok || err1 != nil || err2 != nil || math.Abs(lat) > 90 || math.Abs(lon) > 180 || math.IsNaN(lat) || math.IsNaN(lon) {
		return nil, errors.New(`want "LAT,LON" in decimal degrees, e.g. "21.0285,105.8542", or nothing for no fix`)
	}
	return &[2]float64{lat, lon}, nil
}

func (m *Modem) logPath() string { return filepath.Join(m.o.Dir, logFile) }

// logCommand appends one command to at.log: the time, a space, the
// command (quoted when it is not printable ASCII). Past MaxLogBytes the
// file is renamed at.log.1 (replacing the previous one).
func (m *Modem) logCommand(line string) {
	if !printableASCII(line) {
		line = strconv.Quote(line)
	}
	rec := m.clk.Now().UTC().Format(time.RFC3339Nano) + " " + line + "\n"
	m.logMu.Lock()
	defer m.logMu.Unlock()
	path := m.logPath()
	if m.logBytes+int64(len(rec)) > m.o.MaxLogBytes && m.logBytes > 0 {
		if err := os.Rename(path, path+".1"); err != nil && !errors.Is(err, fs.ErrNotExist) {
			m.log.Warn("sim modem: rotate at.log", "err", err)
		}
		m.logBytes = 0
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		m.log.Warn("sim modem: at.log", "err", err)
		return
	}
	n, werr := f.WriteString(rec)
	cerr := f.Close()
	m.logBytes += int64(n)
	if err := errors.Join(werr, cerr); err != nil {
		m.log.Warn("sim modem: at.log", "err", err)
	}
}

// ReadLog returns the commands logged in dir's at.log (after at.log.1,
// when there is one), oldest first, without their times.
func ReadLog(dir string) ([]string, error) {
	var out []string
	for _, name := range []string{logFile + ".1", logFile} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("sim modem: %w", err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			_, cmd, ok := strings.Cut(sc.Text(), " ")
			if ok {
				out = append(out, cmd)
			}
		}
	}
	return out, nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
