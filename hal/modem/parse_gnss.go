package modem

import (
	"math"
	"strings"

	"github.com/loaxa/loaxa/hal"
)

// parseQGPSLOC reads Quectel's "+QGPSLOC: <UTC>,<latitude>,<longitude>,
// <hdop>,<altitude>,<fix>,<cog>,<spkm>,<spkn>,<date>,<nsat>" in format 2
// (decimal degrees); format 0/1 coordinates (ddmm.mmmmN) are read too.
func parseQGPSLOC(payload string) *hal.GNSSReading {
	f := splitFields(payload)
	if len(f) < 6 {
		return nil
	}
	lat, lon := coord(f[1], "", 90), coord(f[2], "", 180)
	if lat == nil || lon == nil {
		return nil
	}
	g := &hal.GNSSReading{Fix: true, Lat: lat, Lon: lon}
	g.AltitudeM = numIn(f[4], -1000, 20000)
	if len(f) >= 11 {
		if n, ok := atoi(f[10]); ok && n >= 0 && n < 200 {
			g.Satellites = &n
		}
	}
	return g
}

// parseCGNSSINFO reads SIMCom's "+CGNSSINFO: <mode>,<GPS-SVs>,...,<lat>,
// <N/S>,<lon>,<E/W>,<date>,<UTC-time>,<alt>,...". The number of satellite
// count fields before the latitude differs between firmware, so the
// position is found by its hemisphere letters. Without a fix every field
// is empty.
func parseCGNSSINFO(payload string) *hal.GNSSReading {
	f := splitFields(payload)
	for i := 0; i+3 < len(f); i++ {
		if !isOneOf(f[i+1], "N", "S") || !isOneOf(f[i+3], "E", "W") {
			continue
		}
		lat, lon := coord(f[i], f[i+1], 90), coord(f[i+2], f[i+3], 180)
		if lat == nil || lon == nil {
			return &hal.GNSSReading{}
		}
		g := &hal.GNSSReading{Fix: true, Lat: lat, Lon: lon}
		if i+6 < len(f) {
			g.AltitudeM = numIn(f[i+6], -1000, 20000)
		}
		sats, any := 0, false
		for _, s := range f[1:max(i, 1)] { // the counts between <mode> and <lat>
			if n, ok := atoi(s); ok && n >= 0 && n < 100 {
				sats += n
				any = true
			}
		}
		if any {
			g.Satellites = &sats
		}
		return g
	}
	return &hal.GNSSReading{}
}

// parseCGPSINFO reads SIMCom's "+CGPSINFO: <lat>,<N/S>,<log>,<E/W>,<date>,
// <UTC time>,<alt>,<speed>,<course>"; ",,,,,,,," without a fix.
func parseCGPSINFO(payload string) *hal.GNSSReading {
	f := splitFields(payload)
	if len(f) < 4 {
		return &hal.GNSSReading{}
	}
	lat, lon := coord(f[0], f[1], 90), coord(f[2], f[3], 180)
	if lat == nil || lon == nil || !isOneOf(f[1], "N", "S") || !isOneOf(f[3], "E", "W") {
		return &hal.GNSSReading{}
	}
	g := &hal.GNSSReading{Fix: true, Lat: lat, Lon: lon}
	if len(f) >= 7 {
		g.AltitudeM = numIn(f[6], -1000, 20000)
	}
	return g
}

func isOneOf(s string, opts ...string) bool {
	for _, o := range opts {
		if strings.EqualFold(strings.TrimSpace(s), o) {
			return true
		}
	}
	return false
}

// coord reads one coordinate: decimal degrees ("21.028511", "-85.56527") or
// NMEA degrees and minutes ("2101.7107", "10551.2519"), told apart by the
// digits before the point (more than 2 for a latitude, more than 3 for a
// longitude means minutes are in it). hemi is "N", "S", "E", "W" or "";
// a trailing hemisphere letter in s ("3150.7223N") is honoured too. max is
// 90 or 180.
func coord(s, hemi string, max float64) *float64 {
	s = strings.TrimSpace(s)
	if n := len(s); n > 0 && strings.ContainsAny(s[n-1:], "NSEWnsew") {
		hemi, s = s[n-1:], s[:n-1]
	}
	v, ok := atof(s)
	if !ok {
		return nil
	}
	intDigits := len(strings.TrimLeft(strings.SplitN(s, ".", 2)[0], "+-"))
	degDigits := 2
	if max == 180 {
		degDigits = 3
	}
	if intDigits > degDigits {
		neg := v < 0
		v = math.Abs(v)
		deg := math.Floor(v / 100)
		min := v - deg*100
		if min >= 60 {
			return nil
		}
		v = deg + min/60
		if neg {
			v = -v
		}
	}
	if strings.EqualFold(hemi, "S") || strings.EqualFold(hemi, "W") {
		v = -v
	}
	if v < -max || v > max {
		return nil
	}
	if v == 0 { // 0,0 is what receivers say when they have nothing
		return nil
	}
	v = math.Round(v*1e7) / 1e7 // 1 cm: finer is noise of the conversion
	return &v
}
