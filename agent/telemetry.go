package agent

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/loaxa/loaxa/agent/wire"
)

func (a *Agent) uptime() int64 { return int64(a.clk.Now().Sub(a.started) / time.Second) }

func secondsDur(s int) time.Duration { return time.Duration(s) * time.Second }

// telemetry gathers one telemetry document. Values that cannot be read are
// null, never invented.
func (a *Agent) telemetry() wire.Tele {
	ls := a.link.Stats()
	t := wire.Tele{
		TS:      a.clk.Now().UnixMilli(),
		UptimeS: a.uptime(),
		MQTT:    wire.MQTTCounters{Reconnects: ls.Reconnects, RX: ls.RX, TX: ls.TX, Dropped: ls.Dropped},
		Inputs:  a.inputsCopy(),
		Volume:  a.volume,
		Session: ls.Session,
	}
	if a.player != nil {
		lvl := a.player.Level()
		t.Audio.LevelDBFS = &lvl
		t.Audio.Underruns = a.player.Underruns()
		t.Audio.Live = a.liveTele()
	}
	if v, err := readRSS(a.opts.ProcRoot); err == nil {
		t.MemRSSBytes = &v
	}
	if v, err := readLoad1(a.opts.ProcRoot); err == nil {
		t.Load1 = &v
	}
	// Read by the health part off Run (statfs can block on a failing card).
	t.CPUTempC, t.DiskFreeBytes = a.healthTele()
	t.Modem, t.GNSS = a.modemTele()
	return t
}

func (a *Agent) publishTele() {
	a.publish(a.topics.Tele(), 0, false, a.telemetry())
}

// readRSS reads the resident set size from /proc/self/status (VmRSS, kB).
func readRSS(root string) (uint64, error) {
	f, err := os.Open(filepath.Join(root, "proc/self/status"))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, err
			}
			return kb * 1024, nil
		}
	}
	return 0, errors.New("no VmRSS in /proc/self/status")
}

// readLoad1 reads the one-minute load average from /proc/loadavg.
func readLoad1(root string) (float64, error) {
	b, err := os.ReadFile(filepath.Join(root, "proc/loadavg"))
	if err != nil {
		return 0, err
	}
	f := bytes.Fields(b)
	if len(f) == 0 {
		return 0, errors.New("empty /proc/loadavg")
	}
	return strconv.ParseFloat(string(f[0]), 64)
}
