package modem

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loaxa/loaxa/hal"
)

// FuzzParse feeds arbitrary bytes from the modem to the line splitter and
// every parser: nothing may panic, lines stay bounded, and whatever a
// parser returns is in its physical range.
func FuzzParse(f *testing.F) {
	addTranscriptSeeds(f)
	f.Add([]byte("+QENG: \"servingcell\",\"NOCONN\",\"LTE\",\"FDD\",452,04,1A4B30C,337,1650,3,5,5,2F1A,-98,-13,-70,-3,0,0,21\r\n"))
	f.Add([]byte("+CGNSSINFO: 2,09,05,00,9999.99,N,99999.99,E,,,,\r\n+CCLK: \"99/99/99,99:99:99+99\"\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := newLineSplitter(128)
		s.Feed(data, func(line string) {
			if len(line) > 128 {
				t.Fatalf("line of %d bytes passed a 128-byte bound", len(line))
			}
			ParseFinal(line)
			payload := line
			if i := strings.IndexByte(line, ':'); i >= 0 {
				payload = line[i+1:]
			}
			parseCSQ(payload)
			parseCESQ(payload)
			parseCOPS(payload)
			parseReg(payload)
			parseCPIN(payload)
			parseCCLK(payload)
			parseCGDCONT([]string{payload})
			parseICCID([]string{line})
			parseDigits([]string{line}, 6, 16)
			for _, sc := range []servingCell{first(parseQENG([]string{payload})), first(parseCPSI(payload))} {
				checkRange(t, "rsrp", sc.rsrp, minRSRP, maxRSRP)
				checkRange(t, "rsrq", sc.rsrq, minRSRQ, maxRSRQ)
				checkRange(t, "rssi", sc.rssi, minRSSI, maxRSSI)
				checkRange(t, "sinr", sc.sinr, minSINR, maxSINR)
			}
			for _, g := range []*hal.GNSSReading{parseQGPSLOC(payload), parseCGNSSINFO(payload), parseCGPSINFO(payload)} {
				if g == nil {
					continue
				}
				if g.Fix != (g.Lat != nil && g.Lon != nil) {
					t.Fatalf("fix %v with lat %v lon %v", g.Fix, g.Lat, g.Lon)
				}
				checkRange(t, "lat", g.Lat, -90, 90)
				checkRange(t, "lon", g.Lon, -180, 180)
			}
		})
	})
}

// FuzzClient sends arbitrary bytes as a modem's answer (followed by OK)
// through the real client: the command must end, with the answer or an
// error, and the client must stay usable.
func FuzzClient(f *testing.F) {
	addTranscriptSeeds(f)
	f.Add([]byte("AT+CSQ\r+CSQ: 20,99\r\n"))
	f.Add([]byte("\x00\x01\xff+CME ERROR: \r\nERROR"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pb := newPlayback(t, "fuzz", []pbStep{{cmd: "AT+CSQ", answer: string(data) + "\r\nOK\r\n"}, {cmd: "AT", answer: "\r\nOK\r\n"}})
		c := NewClient(pb, ClientOptions{MaxLine: 256})
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := c.Command(ctx, "AT+CSQ", time.Minute)
		if err == nil && len(resp.Lines) > maxResponseLines {
			t.Fatalf("%d lines kept", len(resp.Lines))
		}
		if err != nil && !isRefused(err) {
			t.Fatalf("unexpected error: %v", err)
		}
		// Whatever the answer held, the final code after it was taken;
		// the next command must find a clean line. (If the answer itself
		// held a final code, the trailing OK is stray and may answer the
		// next command: that is the modem's fault and still must not hang.)
		if _, err := c.Command(ctx, "AT", time.Minute); err != nil && !isRefused(err) {
			t.Fatalf("client unusable after the answer: %v", err)
		}
	})
}

func first[T any](v T, _ bool) T { return v }

func checkRange(t *testing.T, what string, v *float64, lo, hi float64) {
	t.Helper()
	if v != nil && (math.IsNaN(*v) || *v < lo || *v > hi) {
		t.Fatalf("%s = %v, outside %v..%v", what, *v, lo, hi)
	}
}

func addTranscriptSeeds(f *testing.F) {
	paths, _ := filepath.Glob("testdata/*.txt")
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		var b strings.Builder
		for _, l := range strings.Split(string(data), "\n") {
			if rest, ok := strings.CutPrefix(l, "< "); ok {
				b.WriteString(rest + "\r\n")
			}
		}
		f.Add([]byte(b.String()))
	}
}
