package modem

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/loaxa/loaxa/hal"
)

// The parsers below turn one answer into the values it carries. They are
// pure and total: any input gives a result, values that are missing, out
// of their physical range or marked unknown ("-", 99, 255) come back nil.
// Formats are those of 3GPP TS 27.007 and of the Quectel EC25/EG25 and
// SIMCom SIM7500/SIM7600 AT manuals; testdata/ holds real answers.

// Plausible ranges; outside them a value is a parse error or a modem bug,
// not a measurement.
const (
	minRSSI, maxRSSI = -130.0, -20.0
	minRSRP, maxRSRP = -156.0, -31.0 // 3GPP TS 36.133 extended range
	minRSRQ, maxRSRQ = -43.0, 20.0
	minSINR, maxSINR = -30.0, 60.0
)

// minClockYear is the earliest year a network time can be: a modem whose
// clock was never set by the network reports its epoch (1980 or 2000), and
// that must not pass for the time.
const minClockYear = 2024

func ptr[T any](v T) *T { return &v }

func inRange(v, lo, hi float64) *float64 {
	if math.IsNaN(v) || v < lo || v > hi {
		return nil
	}
	return &v
}

// atoi parses a decimal integer field; "-", "" and garbage are not numbers.
func atoi(s string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	return n, err == nil
}

func atof(s string) (float64, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// parseCSQ reads "+CSQ: <rssi>,<ber>": rssi 0..31 is −113 dBm + 2·rssi,
// 100..191 the TD-SCDMA extension (−116 dBm + rssi−100), 99 and 199 unknown.
func parseCSQ(payload string) *float64 {
	f := splitFields(payload)
	n, ok := atoi(f[0])
	switch {
	case !ok:
		return nil
	case n >= 0 && n <= 31:
		return ptr(float64(-113 + 2*n))
	case n >= 100 && n <= 191:
		return ptr(float64(-116 + n - 100))
	}
	return nil
}

// parseCESQ reads "+CESQ: <rxlev>,<ber>,<rscp>,<ecno>,<rsrq>,<rsrp>" and
// returns the LTE values: rsrq 0..34 is −20 dB + rsrq/2, rsrp 0..97 is
// −141 dBm + rsrp (the lower edge of each 1 dB step), 255 unknown.
func parseCESQ(payload string) (rsrp, rsrq *float64) {
	f := splitFields(payload)
	if len(f) < 6 {
		return nil, nil
	}
	if n, ok := atoi(f[5]); ok && n >= 0 && n <= 97 {
		rsrp = ptr(float64(-141 + n))
	}
	if n, ok := atoi(f[4]); ok && n >= 0 && n <= 34 {
		rsrq = ptr(-20 + float64(n)/2)
	}
	return rsrp, rsrq
}

// copsInfo is what +COPS? says about the selected operator.
type copsInfo struct {
	format int    // 0 long name, 1 short name, 2 numeric
	oper   string // "" when not registered
	act    int    // access technology, -1 when absent
}

// parseCOPS reads "+COPS: <mode>[,<format>,<oper>[,<AcT>]]".
func parseCOPS(payload string) (copsInfo, bool) {
	f := splitFields(payload)
	info := copsInfo{act: -1}
	if _, ok := atoi(f[0]); !ok {
		return info, false
	}
	if len(f) < 3 {
		return info, true // "+COPS: 0": no operator selected
	}
	n, ok := atoi(f[1])
	if !ok || n < 0 || n > 2 {
		return info, false
	}
	info.format, info.oper = n, f[2]
	if !printable(info.oper) {
		info.oper = ""
	}
	if len(f) >= 4 {
		if a, ok := atoi(f[3]); ok {
			info.act = a
		}
	}
	return info, true
}

// splitPLMN splits a numeric operator "45204" (or "452-04", "452 04") into
// MCC and MNC. MNCs are 2 or 3 digits; the length of the whole tells.
func splitPLMN(s string) (mcc, mnc string, ok bool) {
	s = strings.NewReplacer("-", "", " ", "").Replace(strings.TrimSpace(s))
	if (len(s) != 5 && len(s) != 6) || !allDigits(s) {
		return "", "", false
	}
	return s[:3], s[3:], true
}

// actRAT names an access technology of +COPS/+CEREG <AcT>. 8 is CAT-M on
// the Quectel and SIMCom LTE modules (3GPP gives it to EC-GSM-IoT, which
// nobody deploys).
func actRAT(act int) string {
	switch act {
	case 0, 1, 3:
		return "GSM"
	case 2, 4, 5, 6:
		return "WCDMA"
	case 7, 10:
		return "LTE"
	case 8:
		return "CAT-M"
	case 9:
		return "NB-IoT"
	case 11, 12:
		return "NR5G"
	case 13:
		return "LTE+NR5G"
	}
	return ""
}

// regInfo is what a +CREG/+CGREG/+CEREG read answer says.
type regInfo struct {
	reg   *hal.Registration
	tac   string // location or tracking area code, hex
	cell  string // cell id, hex
	act   int    // -1 when absent
	isURC bool   // the line was the unsolicited form, not a read answer
}

// parseReg reads the answer to AT+CEREG? (or +CGREG?, +CREG?):
// "<n>,<stat>[,<tac>,<ci>[,<AcT>]]". The unsolicited form, which has no
// <n> ("<stat>[,<tac>,...]"), is recognised and reported as such: it can
// arrive in the middle of a read answer.
func parseReg(payload string) (regInfo, bool) {
	info := regInfo{act: -1}
	raw := strings.Split(payload, ",")
	f := splitFields(payload)
	if len(f) < 2 || strings.Contains(raw[1], `"`) {
		info.isURC = true
		return info, false
	}
	if n, ok := atoi(f[0]); !ok || n < 0 || n > 5 {
		return info, false
	}
	stat, ok := atoi(f[1])
	if !ok {
		return info, false
	}
	info.reg = regState(stat)
	if len(f) >= 4 {
		info.tac = hexID(f[2])
		info.cell = hexID(f[3])
	}
	if len(f) >= 5 {
		if a, ok := atoi(f[4]); ok {
			info.act = a
		}
	}
	return info, true
}

// regState maps a 27.007 <stat> to a registration state; 4 (unknown) and
// codes this build does not know are nil.
func regState(stat int) *hal.Registration {
	var r hal.Registration
	switch stat {
	case 0:
		r = hal.RegNotRegistered
	case 1, 6, 9:
		r = hal.RegHome
	case 2:
		r = hal.RegSearching
	case 3:
		r = hal.RegDenied
	case 5, 7, 10:
		r = hal.RegRoaming
	case 8, 11:
		r = hal.RegEmergencyOnly
	default:
		return nil
	}
	return &r
}

// regRank orders registration states by how much they say: registered
// over searching over denied over the rest over unknown. Of the answers of
// +CEREG, +CGREG and +CREG the highest ranked is the modem's state.
func regRank(r *hal.Registration) int {
	switch {
	case r == nil:
		return 0
	case r.Registered():
		return 5
	case *r == hal.RegSearching:
		return 4
	case *r == hal.RegDenied:
		return 3
	case *r == hal.RegEmergencyOnly:
		return 2
	}
	return 1
}

// hexID normalises a cell id or area code given in hex ("08F381C5",
// "0x21F9") to upper case without leading zeros; "" when it is not hex or
// is a placeholder (0, FFFF, FFFFFFF, "-").
func hexID(s string) string {
	s = strings.TrimSpace(s)
	if rest, ok := cutPrefixFold(s, "0x"); ok {
		s = rest
	}
	if s == "" || len(s) > 16 {
		return ""
	}
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil || v == 0 || strings.Trim(strings.ToUpper(s), "F") == "" {
		return ""
	}
	return strings.ToUpper(strconv.FormatUint(v, 16))
}

// servingCell is what a vendor's serving-cell report says.
type servingCell struct {
	rat                    string
	mcc, mnc               string
	cell, tac              string
	rsrp, rsrq, rssi, sinr *float64
	// searching is set when the modem reports no cell at all.
	searching bool
}

// parseQENG reads Quectel's `+QENG: "servingcell",<state>,<RAT>,...`
// (EC25/EG25/EC21/EG91, AT manual §"AT+QENG"). LTE:
//
//	"servingcell",<state>,"LTE",<is_tdd>,<MCC>,<MNC>,<cellID>,<PCID>,<earfcn>,
//	<freq_band_ind>,<UL_bandwidth>,<DL_bandwidth>,<TAC>,<RSRP>,<RSRQ>,<RSSI>,<SINR>,...
//
// WCDMA and GSM carry MCC, MNC, LAC and cell id at other places; their
// signal comes from +CSQ. "-" marks a value the modem does not have. The
// multi-line form of the 5G modules (a line per RAT without "servingcell")
// is read for its LTE line.
func parseQENG(lines []string) (servingCell, bool) {
	var sc servingCell
	found := false
	for _, payload := range lines {
		f := splitFields(payload)
		if strings.EqualFold(f[0], "servingcell") {
			found = true
			if len(f) < 3 {
				sc.searching = len(f) == 2 && strings.EqualFold(f[1], "SEARCH")
				continue
			}
			if strings.EqualFold(f[1], "SEARCH") {
				sc.searching = true
				continue
			}
			f = f[2:] // now f[0] is the RAT, as in the multi-line form
		} else if !strings.EqualFold(f[0], "LTE") {
			continue
		}
		rat := strings.ToUpper(f[0])
		switch {
		case rat == "LTE" && len(f) >= 15:
			found = true
			sc.rat = "LTE"
			sc.mcc, sc.mnc = plmnPart(f[2], 3), plmnPart(f[3], 2)
			sc.cell, sc.tac = hexID(f[4]), hexID(f[10])
			sc.rsrp = numIn(f[11], minRSRP, maxRSRP)
			sc.rsrq = numIn(f[12], minRSRQ, maxRSRQ)
			sc.rssi = numIn(f[13], minRSSI, maxRSSI)
			sc.sinr = numIn(f[14], minSINR, maxSINR)
		case (rat == "WCDMA" || rat == "GSM") && len(f) >= 5:
			found = true
			sc.rat = rat
			sc.mcc, sc.mnc = plmnPart(f[1], 3), plmnPart(f[2], 2)
			sc.tac, sc.cell = hexID(f[3]), hexID(f[4])
		case rat == "CAT-M" || rat == "EMTC":
			found = true
			sc.rat = "CAT-M"
		case rat == "NBIOT" || rat == "NB-IOT":
			found = true
			sc.rat = "NB-IoT"
		}
	}
	return sc, found
}

// plmnPart checks an MCC (3 digits) or MNC (2 or 3 digits, some firmware
// drops the leading zero: "4" for "04") field.
func plmnPart(s string, width int) string {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 3 || !allDigits(s) {
		return ""
	}
	for len(s) < width {
		s = "0" + s
	}
	return s
}

func numIn(s string, lo, hi float64) *float64 {
	v, ok := atof(s)
	if !ok {
		return nil
	}
	return inRange(v, lo, hi)
}

// parseCPSI reads SIMCom's "+CPSI: <System Mode>,<Operation Mode>,..."
// (SIM7500/SIM7600 AT manual §"AT+CPSI"). LTE:
//
//	LTE,Online,<MCC>-<MNC>,<TAC>,<SCellID>,<PCellID>,<Frequency Band>,<earfcn>,
//	<dlbw>,<ulbw>,<RSRQ>,<RSRP>,<RSSI>,<RSSNR>
//
// The manual gives RSRQ, RSRP and RSSI in tenths of a dB (-112.6 dBm is
// -1126), but some firmware (the CAT-M builds, the A76xx) gives whole dB:
// each value is read in whichever unit puts it in its physical range.
// "NO SERVICE" means no cell.
func parseCPSI(payload string) (servingCell, bool) {
	var sc servingCell
	f := splitFields(payload)
	mode := strings.ToUpper(f[0])
	switch {
	case mode == "NO SERVICE":
		sc.searching = true
		return sc, true
	case len(f) < 5:
		return sc, false
	}
	sc.mcc, sc.mnc, _ = splitPLMN(f[2])
	sc.tac = hexID(f[3])
	if id, ok := atoi(f[4]); ok && id > 0 {
		sc.cell = strings.ToUpper(strconv.FormatInt(int64(id), 16))
	}
	switch {
	case strings.HasPrefix(mode, "LTE"):
		sc.rat = "LTE"
		if strings.Contains(mode, "CAT-M") {
			sc.rat = "CAT-M"
		} else if strings.Contains(mode, "NB") {
			sc.rat = "NB-IoT"
		}
		if len(f) >= 13 {
			sc.rsrq = tenthsOrWhole(f[10], -20, -3, minRSRQ, maxRSRQ)
			sc.rsrp = tenthsOrWhole(f[11], -140, -44, minRSRP, maxRSRP)
			sc.rssi = tenthsOrWhole(f[12], -120, -25, minRSSI, maxRSSI)
		}
		if len(f) >= 14 {
			sc.sinr = numIn(f[13], minSINR, maxSINR)
		}
	case mode == "GSM":
		sc.rat = "GSM"
		if len(f) >= 7 {
			sc.rssi = numIn(f[6], minRSSI, maxRSSI)
		}
	case mode == "WCDMA":
		sc.rat = "WCDMA"
	default:
		return sc, false
	}
	return sc, true
}

// tenthsOrWhole reads a SIMCom value that is in tenths of a dB on most
// firmware and in whole dB on some. A value inside the usual range of the
// quantity in whole dB (wlo..whi) is taken as whole dB, anything else as
// tenths, checked against the plausible range lo..hi. The two readings do
// not collide for real signals: -30 is -3.0 dB of RSRQ (whole dB stops at
// -20), -94 is -94 dBm of RSRP. These quantities are never positive: a
// positive value is some other scale and is left out.
func tenthsOrWhole(s string, wlo, whi, lo, hi float64) *float64 {
	v, ok := atof(s)
	if !ok || v >= 0 {
		return nil
	}
	if v >= wlo && v <= whi {
		return &v
	}
	return inRange(v/10, lo, hi)
}

// parseICCID finds the ICCID in the answer to AT+QCCID, AT+CICCID or
// AT+CCID, which vendors spell "+QCCID: ", "+ICCID: ", "+CCID: " (with or
// without quotes) or give as a bare line. The hex padding "F" is removed.
func parseICCID(lines []string) *string {
	for _, l := range lines {
		s := l
		if i := strings.IndexByte(s, ':'); i >= 0 && strings.HasPrefix(s, "+") {
			s = s[i+1:]
		}
		s = strings.TrimRight(strings.Trim(strings.TrimSpace(s), `"`), "Ff")
		if len(s) >= 18 && len(s) <= 22 && allDigits(s) {
			return &s
		}
	}
	return nil
}

// parseDigits finds an identifier of minLen..maxLen digits in the answer
// to AT+CGSN (IMEI) or AT+CIMI (IMSI): a bare line, or "+CGSN: ..." on
// some firmware.
func parseDigits(lines []string, minLen, maxLen int) *string {
	for _, l := range lines {
		s := l
		if i := strings.IndexByte(s, ':'); i >= 0 && strings.HasPrefix(s, "+") {
			s = s[i+1:]
		}
		s = strings.Trim(strings.TrimSpace(s), `"`)
		if len(s) >= minLen && len(s) <= maxLen && allDigits(s) {
			return &s
		}
	}
	return nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseCPIN reads "+CPIN: <code>".
func parseCPIN(payload string) *hal.SIMState {
	code := strings.ToUpper(strings.Trim(strings.TrimSpace(payload), `"`))
	var s hal.SIMState
	switch {
	case code == "READY":
		s = hal.SIMReady
	case strings.Contains(code, "PIN") || strings.Contains(code, "PUK"):
		s = hal.SIMLocked
	case code == "NOT INSERTED" || code == "SIM REMOVED" || code == "ABSENT":
		s = hal.SIMAbsent
	case code == "NOT READY":
		s = hal.SIMBusy
	default:
		return nil
	}
	return &s
}

// simFromError maps the +CME ERROR of AT+CPIN? (numeric, or verbose with
// AT+CMEE=2) to a SIM state; nil for errors that say nothing about the SIM.
func simFromError(f Final) *hal.SIMState {
	var s hal.SIMState
	text := strings.ToLower(f.Text)
	switch {
	case f.Code == 10 || strings.Contains(text, "not inserted"):
		s = hal.SIMAbsent
	case f.Code == 11 || f.Code == 12 || f.Code == 17 || f.Code == 18 || strings.Contains(text, "pin") || strings.Contains(text, "puk"):
		s = hal.SIMLocked
	case f.Code == 14 || strings.Contains(text, "busy"):
		s = hal.SIMBusy
	case f.Code == 13 || f.Code == 15 || strings.Contains(text, "failure") || strings.Contains(text, "wrong"):
		s = hal.SIMError
	default:
		return nil
	}
	return &s
}

// parseCCLK reads `+CCLK: "yy/MM/dd,hh:mm:ss±zz"` (zz in quarters of an
// hour, as 27.007 has it; some firmware gives a four-digit year or no
// zone). A time before minClockYear is a clock the network never set, and
// is nil.
func parseCCLK(payload string) *time.Time {
	s := strings.Trim(strings.TrimSpace(payload), `"`)
	date, clk, ok := strings.Cut(s, ",")
	if !ok {
		return nil
	}
	d := strings.Split(date, "/")
	if len(d) != 3 {
		return nil
	}
	zone := 0
	if i := strings.IndexAny(clk, "+-"); i >= 0 {
		q, ok := atoi(clk[i+1:])
		if !ok || q > 14*4 {
			return nil
		}
		zone = q * 15 * 60
		if clk[i] == '-' {
			zone = -zone
		}
		clk = clk[:i]
	}
	t := strings.Split(clk, ":")
	if len(t) != 3 {
		return nil
	}
	var n [6]int
	for i, part := range append(d, t...) {
		v, ok := atoi(part)
		if !ok || v < 0 {
			return nil
		}
		n[i] = v
	}
	year := n[0]
	if len(strings.TrimSpace(d[0])) <= 2 {
		// Two digits: modems whose clock was never set count from 1970,
		// 1980 (the GPS epoch) or 2000; this firmware will not see 2070.
		year += 2000
		if n[0] >= 70 {
			year -= 100
		}
	}
	if year < minClockYear || year > 2099 || n[1] < 1 || n[1] > 12 || n[2] < 1 || n[2] > 31 || n[3] > 23 || n[4] > 59 || n[5] > 60 {
		return nil
	}
	tm := time.Date(year, time.Month(n[1]), n[2], n[3], n[4], n[5], 0, time.FixedZone("", zone))
	if tm.Day() != n[2] { // 31 February
		return nil
	}
	return &tm
}

// pdpContext is one line of +CGDCONT?.
type pdpContext struct {
	cid     int
	pdpType string
	apn     string
}

// parseCGDCONT reads "+CGDCONT: <cid>,<PDP_type>,<APN>,..." lines.
func parseCGDCONT(payloads []string) []pdpContext {
	var out []pdpContext
	for _, p := range payloads {
		f := splitFields(p)
		if len(f) < 3 {
			continue
		}
		cid, ok := atoi(f[0])
		if !ok || cid < 1 || cid > 255 || !printable(f[2]) {
			continue
		}
		out = append(out, pdpContext{cid: cid, pdpType: f[1], apn: f[2]})
	}
	return out
}

// bareLine returns the first information line that is not an unsolicited
// "+XXX:" line, with an own prefix ("+CGMI: ") removed: the answer of
// AT+CGMI and AT+CGMM.
func bareLine(resp *Response, prefix string) string {
	for _, l := range resp.Lines {
		if rest, ok := cutPrefixFold(l, prefix); ok && prefix != "" {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
		if !strings.HasPrefix(l, "+") && strings.TrimSpace(l) != "" {
			return strings.TrimSpace(l)
		}
	}
	return ""
}
