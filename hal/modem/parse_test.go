package modem

import (
	"fmt"
	"testing"
	"time"

	"github.com/loaxa/loaxa/hal"
)

func f(v float64) *float64 { return &v }

func fmtPtr[T any](p *T) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprint(*p)
}

func TestParseCSQ(t *testing.T) {
	for in, want := range map[string]*float64{
		"20,99":  f(-73),
		"0,0":    f(-113),
		"31,99":  f(-51),
		"99,99":  nil,
		"100,99": f(-116),
		"191,99": f(-25),
		"199,99": nil,
		"32,99":  nil,
		"x":      nil,
		"":       nil,
	} {
		if got := parseCSQ(in); fmtPtr(got) != fmtPtr(want) {
			t.Errorf("parseCSQ(%q) = %s, want %s", in, fmtPtr(got), fmtPtr(want))
		}
	}
}

func TestParseCESQ(t *testing.T) {
	tests := []struct {
		in         string
		rsrp, rsrq *float64
	}{
		{"99,99,255,255,20,42", f(-99), f(-10)},
		{"99,99,255,255,0,0", f(-141), f(-20)},
		{"99,99,255,255,34,97", f(-44), f(-3)},
		{"99,99,255,255,255,255", nil, nil},
		{"32,0,255,255,255,255", nil, nil}, // on GSM
		{"99,99", nil, nil},
	}
	for _, tt := range tests {
		rsrp, rsrq := parseCESQ(tt.in)
		if fmtPtr(rsrp) != fmtPtr(tt.rsrp) || fmtPtr(rsrq) != fmtPtr(tt.rsrq) {
			t.Errorf("parseCESQ(%q) = %s, %s; want %s, %s", tt.in, fmtPtr(rsrp), fmtPtr(rsrq), fmtPtr(tt.rsrp), fmtPtr(tt.rsrq))
		}
	}
}

func TestParseCOPS(t *testing.T) {
	tests := []struct {
		in   string
		want copsInfo
		ok   bool
	}{
		{`0,0,"Viettel",7`, copsInfo{0, "Viettel", 7}, true},
		{`0,2,"45204",7`, copsInfo{2, "45204", 7}, true},
		{`1,1,"VNPT",2`, copsInfo{1, "VNPT", 2}, true},
		{`0,0,"CHN-UNICOM"`, copsInfo{0, "CHN-UNICOM", -1}, true},
		{`0`, copsInfo{0, "", -1}, true},
		{`2`, copsInfo{0, "", -1}, true},
		{`x,0,"a"`, copsInfo{0, "", -1}, false},
		{`0,9,"a",7`, copsInfo{0, "", -1}, false},
	}
	for _, tt := range tests {
		got, ok := parseCOPS(tt.in)
		if ok != tt.ok || ok && got != tt.want {
			t.Errorf("parseCOPS(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	for in, want := range map[string][2]string{"45204": {"452", "04"}, "310260": {"310", "260"}, "452-02": {"452", "02"}} {
		mcc, mnc, ok := splitPLMN(in)
		if !ok || mcc != want[0] || mnc != want[1] {
			t.Errorf("splitPLMN(%q) = %s, %s, %v", in, mcc, mnc, ok)
		}
	}
	for _, in := range []string{"4520", "4520411", "45a04", ""} {
		if _, _, ok := splitPLMN(in); ok {
			t.Errorf("splitPLMN(%q) accepted", in)
		}
	}
}

func TestParseReg(t *testing.T) {
	tests := []struct {
		in        string
		reg       string
		tac, cell string
		act       int
		ok, urc   bool
	}{
		{"0,1", "home", "", "", -1, true, false},
		{"2,5,\"3193\",\"08F381C5\",7", "roaming", "3193", "8F381C5", 7, true, false},
		{"2,1,\"0x2F1A\",\"0x1A4B30C\",7", "home", "2F1A", "1A4B30C", 7, true, false},
		{"0,2", "searching", "", "", -1, true, false},
		{"0,3", "denied", "", "", -1, true, false},
		{"0,0", "not_registered", "", "", -1, true, false},
		{"0,4", "nil", "", "", -1, true, false},
		{"0,8", "emergency_only", "", "", -1, true, false},
		{"1,6", "home", "", "", -1, true, false},
		// Unsolicited forms that slip into a read answer.
		{"2", "nil", "", "", -1, false, true},
		{"1,\"3193\",\"08F381C5\",7", "nil", "", "", -1, false, true},
		{"x,1", "nil", "", "", -1, false, false},
	}
	for _, tt := range tests {
		got, ok := parseReg(tt.in)
		if ok != tt.ok || got.isURC != tt.urc || fmtPtr(got.reg) != tt.reg || got.tac != tt.tac || got.cell != tt.cell || got.act != tt.act {
			t.Errorf("parseReg(%q) = %s %+v, %v", tt.in, fmtPtr(got.reg), got, ok)
		}
	}
}

func TestParseQENG(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  string // "rat mcc mnc cell tac rsrp rsrq rssi sinr searching"
	}{
		{"EC25 manual", []string{`"servingcell","NOCONN","LTE","FDD",214,01,7676A09,188,6300,20,3,3,603,-104,-9,-78,11,23`},
			"LTE 214 01 7676A09 603 -104 -9 -78 11 false"},
		{"later firmware, CQI and tx power", []string{`"servingcell","NOCONN","LTE","FDD",460,00,8F381C5,107,1300,3,5,5,3193,-98,-13,-70,-3,0,0,21`},
			"LTE 460 00 8F381C5 3193 -98 -13 -70 -3 false"},
		{"connected, TDD", []string{`"servingcell","CONNECT","LTE","TDD",452,04,1A4B30C,337,38950,40,5,5,2F1A,-112,-15,-80,2,46`},
			"LTE 452 04 1A4B30C 2F1A -112 -15 -80 2 false"},
		{"limited service", []string{`"servingcell","LIMSRV","LTE","FDD",452,04,1A4B30C,337,1650,3,5,5,2F1A,-120,-18,-90,-5,10`},
			"LTE 452 04 1A4B30C 2F1A -120 -18 -90 -5 false"},
		{"values not available", []string{`"servingcell","NOCONN","LTE","FDD",452,4,1A4B30C,337,1650,3,5,5,2F1A,-,-,-,-,-`},
			"LTE 452 04 1A4B30C 2F1A nil nil nil nil false"},
		{"searching", []string{`"servingcell","SEARCH"`}, " nil nil nil nil true"},
		{"WCDMA", []string{`"servingcell","NOCONN","WCDMA",452,04,2F1A,1A4B30C,10713,300,1,-85,-7,-,-,-,-,-`},
			"WCDMA 452 04 1A4B30C 2F1A nil nil nil nil false"},
		{"GSM", []string{`"servingcell","NOCONN","GSM",452,04,2F1A,1A4B,30,65,0,-61,255,255,0,34,34,1,-,-,-,-,-,-,-,-,-,"-"`},
			"GSM 452 04 1A4B 2F1A nil nil nil nil false"},
		{"5G module, multi-line", []string{`"servingcell","NOCONN"`, `"LTE","FDD",452,04,1A4B30C,337,1650,3,5,5,2F1A,-95,-11,-65,13,12,20,-`},
			"LTE 452 04 1A4B30C 2F1A -95 -11 -65 13 false"},
		{"RSRP out of range", []string{`"servingcell","NOCONN","LTE","FDD",452,04,1A4B30C,337,1650,3,5,5,2F1A,-1126,-9,-78,11,23`},
			"LTE 452 04 1A4B30C 2F1A nil -9 -78 11 false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc, ok := parseQENG(tt.lines)
			got := fmt.Sprintf("%s %s %s %s %s %s %s %s %s %v", sc.rat, sc.mcc, sc.mnc, sc.cell, sc.tac, fmtPtr(sc.rsrp), fmtPtr(sc.rsrq), fmtPtr(sc.rssi), fmtPtr(sc.sinr), sc.searching)
			if tt.name == "searching" {
				got = fmt.Sprintf("%s %s %s %s %s %v", sc.rat, fmtPtr(sc.rsrp), fmtPtr(sc.rsrq), fmtPtr(sc.rssi), fmtPtr(sc.sinr), sc.searching)
			}
			if !ok || got != tt.want {
				t.Errorf("parseQENG = %q, %v; want %q", got, ok, tt.want)
			}
		})
	}
	if _, ok := parseQENG([]string{`"neighbourcell intra","LTE",6300,188,-12,-105,-75,-20,23,4,12,10,62`}); ok {
		t.Error("a neighbour cell line was taken for the serving cell")
	}
}

func TestParseCPSI(t *testing.T) {
	tests := []struct {
		in   string
		want string // "rat mcc mnc cell tac rsrp rsrq rssi sinr"
	}{
		// SIM7500/SIM7600 AT manual: tenths of a dB.
		{"LTE,Online,404-45,0x21F9,322642,453,EUTRAN-BAND40,39275,4,4,-168,-1126,-773,7", "LTE 404 45 4EC52 21F9 -112.6 -16.8 -77.3 7"},
		{"LTE,Online,452-02,0x5A1E,187214780,257,EUTRAN-BAND3,1825,5,5,-94,-850,-545,15", "LTE 452 02 B28ABBC 5A1E -85 -9.4 -54.5 15"},
		// CAT-M firmware: whole dB.
		{"LTE CAT-M1,Online,505-01,0x2036,134523149,238,EUTRAN-BAND28,9410,5,5,-20,-116,-82,6", "CAT-M 505 01 804A90D 2036 -116 -20 -82 6"},
		// Index values (other firmware): not dB, left out.
		{"LTE,Online,460-01,0x230A,175499523,318,EUTRAN-BAND3,1650,5,0,21,67,255,19", "LTE 460 01 A75E903 230A nil nil nil 19"},
		{"GSM,Online,460-00,0x182d,12401,27 EGSM 900,-64,2110,40-40", "GSM 460 00 3071 182D nil nil -64 nil"},
		{"WCDMA,Online,001-01,0xBA0E,13,WCDMA IMT 2000,10737,0,35,-21,-4,49,-43,57", "WCDMA 001 01 D BA0E nil nil nil nil"},
	}
	for _, tt := range tests {
		sc, ok := parseCPSI(tt.in)
		got := fmt.Sprintf("%s %s %s %s %s %s %s %s %s", sc.rat, sc.mcc, sc.mnc, sc.cell, sc.tac, fmtPtr(sc.rsrp), fmtPtr(sc.rsrq), fmtPtr(sc.rssi), fmtPtr(sc.sinr))
		if !ok || got != tt.want {
			t.Errorf("parseCPSI(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
	if sc, ok := parseCPSI("NO SERVICE,Online"); !ok || !sc.searching {
		t.Error("NO SERVICE is not read as no cell")
	}
	if _, ok := parseCPSI("garbage"); ok {
		t.Error("garbage accepted")
	}
}

func TestParseIDs(t *testing.T) {
	for _, tt := range []struct {
		lines []string
		want  string
	}{
		{[]string{"+QCCID: 89860025128306012474"}, "89860025128306012474"},
		{[]string{"+QCCID: 8984048000123456789F"}, "8984048000123456789"},
		{[]string{"+ICCID: 89840200011234567890"}, "89840200011234567890"},
		{[]string{`+CCID: "89840100009876543210"`}, "89840100009876543210"},
		{[]string{"89840100009876543210"}, "89840100009876543210"},
		{[]string{"+CCID: 1234"}, "nil"},
		{[]string{"+CCID: 8984A100009876543210"}, "nil"},
	} {
		if got := fmtPtr(parseICCID(tt.lines)); got != tt.want {
			t.Errorf("parseICCID(%q) = %s, want %s", tt.lines, got, tt.want)
		}
	}
	for _, tt := range []struct {
		lines []string
		want  string
	}{
		{[]string{"866758040123452"}, "866758040123452"},
		{[]string{`+CGSN: "356938035643809"`}, "356938035643809"},
		{[]string{"+QIND: SMS DONE", "866758040123452"}, "866758040123452"},
		{[]string{"86675804012345"}, "86675804012345"},
		{[]string{"8667580401"}, "nil"},
		{[]string{"86675804O123452"}, "nil"},
	} {
		if got := fmtPtr(parseDigits(tt.lines, 14, 16)); got != tt.want {
			t.Errorf("IMEI from %q = %s, want %s", tt.lines, got, tt.want)
		}
	}
}

func TestParseSIM(t *testing.T) {
	for in, want := range map[string]string{
		"READY": "ready", "SIM PIN": "locked", "SIM PUK": "locked", "PH-SIM PIN": "locked",
		"NOT INSERTED": "absent", "NOT READY": "busy", "?": "nil",
	} {
		if got := fmtPtr(parseCPIN(in)); got != want {
			t.Errorf("parseCPIN(%q) = %s, want %s", in, got, want)
		}
	}
	for _, tt := range []struct {
		f    Final
		want string
	}{
		{Final{Kind: "+CME ERROR", Code: 10}, "absent"},
		{Final{Kind: "+CME ERROR", Code: 11}, "locked"},
		{Final{Kind: "+CME ERROR", Code: 13}, "error"},
		{Final{Kind: "+CME ERROR", Code: 14}, "busy"},
		{Final{Kind: "+CME ERROR", Code: -1, Text: "SIM not inserted"}, "absent"},
		{Final{Kind: "+CME ERROR", Code: -1, Text: "SIM failure"}, "error"},
		{Final{Kind: "+CME ERROR", Code: 100}, "nil"},
		{Final{Kind: "ERROR", Code: -1}, "nil"},
	} {
		if got := fmtPtr(simFromError(tt.f)); got != tt.want {
			t.Errorf("simFromError(%v) = %s, want %s", tt.f, got, tt.want)
		}
	}
}

func TestParseCCLK(t *testing.T) {
	ict := time.FixedZone("", 7*3600)
	for in, want := range map[string]*time.Time{
		`"24/05/30,14:21:07+28"`:   ptr(time.Date(2024, 5, 30, 14, 21, 7, 0, ict)),
		`"24/05/30,07:21:07+00"`:   ptr(time.Date(2024, 5, 30, 7, 21, 7, 0, time.UTC)),
		`"25/01/02,03:04:05-20"`:   ptr(time.Date(2025, 1, 2, 3, 4, 5, 0, time.FixedZone("", -5*3600))),
		`"2025/01/02,03:04:05+28"`: ptr(time.Date(2025, 1, 2, 3, 4, 5, 0, ict)),
		`"24/05/30,14:21:07"`:      ptr(time.Date(2024, 5, 30, 14, 21, 7, 0, time.UTC)),
		`"80/01/06,00:01:12+00"`:   nil, // never set: the modem's epoch
		`"00/01/01,00:00:09+00"`:   nil,
		`"70/01/01,00:00:09+00"`:   nil,
		`"24/02/30,00:00:00+00"`:   nil,
		`"24/13/01,00:00:00+00"`:   nil,
		`"24/05/30,25:00:00+00"`:   nil,
		`"24/05/30"`:               nil,
		`garbage`:                  nil,
	} {
		got := parseCCLK(in)
		switch {
		case (got == nil) != (want == nil):
			t.Errorf("parseCCLK(%s) = %v, want %v", in, fmtPtr(got), fmtPtr(want))
		case got != nil && !got.Equal(*want):
			t.Errorf("parseCCLK(%s) = %v, want %v", in, *got, *want)
		}
	}
}

func TestParseGNSS(t *testing.T) {
	g := func(lat, lon float64) string { return fmt.Sprintf("fix %v %v", lat, lon) }
	tests := []struct {
		name string
		got  *hal.GNSSReading
		want string
	}{
		{"QGPSLOC=2", parseQGPSLOC("061951.0,31.84537,117.19882,0.7,62.2,2,0.00,0.0,0.0,110513,09"), g(31.84537, 117.19882)},
		{"QGPSLOC=2 south west", parseQGPSLOC("113355.0,-44.74770,-85.56527,1.2,192.0,2,277.11,0.0,0.0,250420,10"), g(-44.7477, -85.56527)},
		{"QGPSLOC=0 minutes", parseQGPSLOC("061951.0,3150.7223N,11711.9293E,0.7,62.2,2,0.0,0.0,0.0,110513,09"), g(31.8453717, 117.1988217)},
		{"QGPSLOC garbage", parseQGPSLOC("a,b,c,d,e,f"), "nil"},
		{"CGNSSINFO manual", parseCGNSSINFO("2,09,05,00,3113.330650,N,12121.262554,E,131117,091918.0,32.9,0.0,255.0,1.1,0.8,0.7"), g(31.2221775, 121.3543759)},
		{"CGNSSINFO A76xx decimal", parseCGNSSINFO("2,04,00,21.028511,N,105.854167,E,020924,094145.00,-34.0,1.403,,6.9,6.8,1.0,03"), g(21.028511, 105.854167)},
		{"CGNSSINFO no fix", parseCGNSSINFO(",,,,,,,,,,,,,,,"), "nofix"},
		{"CGPSINFO", parseCGPSINFO("3113.343286,N,12121.234064,E,250311,072809.3,44.1,0.0,0"), g(31.2223881, 121.3539011)},
		{"CGPSINFO south west", parseCGPSINFO("3344.000000,S,05812.000000,W,040326,100000.0,25.0,0.0,"), g(-33.7333333, -58.2)},
		{"CGPSINFO no fix", parseCGPSINFO(",,,,,,,,"), "nofix"},
		{"CGPSINFO bad minutes", parseCGPSINFO("3175.0,N,12121.234064,E,,,,,"), "nofix"},
	}
	for _, tt := range tests {
		got := "nil"
		switch {
		case tt.got == nil:
		case !tt.got.Fix:
			got = "nofix"
			if tt.got.Lat != nil || tt.got.Lon != nil {
				got = "nofix with a position"
			}
		default:
			got = g(*tt.got.Lat, *tt.got.Lon)
		}
		if got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestParseCGDCONT(t *testing.T) {
	got := parseCGDCONT([]string{
		`1,"IPV4V6","v-internet","0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0",0,0,0,0`,
		`2,"IPV4V6","ims","0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0",0,0,0,0`,
		`x,"IP","a"`,
		`3`,
	})
	if len(got) != 2 || got[0] != (pdpContext{1, "IPV4V6", "v-internet"}) || got[1].apn != "ims" {
		t.Errorf("parseCGDCONT = %+v", got)
	}
}
