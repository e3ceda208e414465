package modem

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Identity of the emulated modem and SIM: a Quectel EC25 with a Viettel
// SIM, camped on a band-3 cell.
const (
	simIMEI     = "869710030002905"
	simICCID    = "89840480000123456789"
	simIMSI     = "452040123456789"
	simOperator = "Viettel"
	simPLMN     = "45204"
	simCell     = "6F2D10A"
	simTAC      = "2F1A"
	simRevision = "EC25EFAR06A06M4G"
	simRSRQ     = -10
	simSINR     = 15
)

// radio is what the modem's radio side looks like to the commands: the
// control files plus the effect of AT+CFUN.
type radio struct {
	state State
	rsrp  float64
	gnss  *[2]float64 // lat, lon; nil: no fix
}

// volatile is the modem's RAM state: reset when the modem restarts (after
// AT+CFUN=1,1 or when it comes back from "gone").
type volatile struct {
	echo       bool
	cfun       int
	copsFormat int
	regN       map[string]int // "+CEREG" → n
	gpsOn      bool
	started    time.Time
}

func newVolatile(now time.Time) volatile {
	return volatile{echo: true, cfun: 1, regN: map[string]int{}, started: now}
}

// nv is the modem's flash: it survives restarts.
type nv struct {
	pdpType, apn string
}

// reply is the emulator's answer to one command line.
type reply struct {
	lines []string
	final string
	// reset is set by AT+CFUN=1,1: the modem restarts after answering.
	reset bool
}

// registration is the 27.007 <stat> the modem reports now.
func (r radio) stat(v *volatile) int {
	if v.cfun != 1 {
		return 0
	}
	switch r.state {
	case StateRegistered:
		return 1
	case StateSearching:
		return 2
	case StateDenied:
		return 3
	}
	return 0 // no SIM
}

// rssi derives the carrier RSSI from RSRP for a 10 MHz carrier (600
// subcarriers: +27.8 dB), as a real cell would show.
func (r radio) rssi() float64 { return math.Round(r.rsrp + 27.8) }

// answer computes the reply to one command line, as an EC25 would give it.
func answer(line string, r radio, v *volatile, n *nv, now time.Time) reply {
	cmd := strings.TrimSpace(line)
	up := strings.ToUpper(cmd)
	body, ok := strings.CutPrefix(up, "AT")
	if !ok {
		return reply{final: "ERROR"}
	}
	rawBody := cmd[2:]
	ok1 := func(lines ...string) reply { return reply{lines: lines, final: "OK"} }
	cme := func(code int) reply { return reply{final: fmt.Sprintf("+CME ERROR: %d", code)} }
	simReady := r.state != StateNoSIM
	registered := r.stat(v) == 1
	camped := v.cfun == 1 && (r.state == StateRegistered || r.state == StateDenied)

	switch {
	case body == "":
		return ok1()
	case body == "E0" || body == "E1" || body == "E":
		v.echo = body == "E1"
		return ok1()
	case body == "I":
		return ok1("Quectel", "EC25", "Revision: "+simRevision)
	case body == "+CGMI" || body == "+GMI":
		return ok1("Quectel")
	case body == "+CGMM" || body == "+GMM":
		return ok1("EC25")
	case body == "+CGMR" || body == "+GMR":
		return ok1(simRevision)
	case strings.HasPrefix(body, "+CMEE="):
		return ok1()
	case body == "+CGSN" || body == "+GSN":
		return ok1(simIMEI)
	case body == "+CPIN?":
		if !simReady {
			return cme(10)
		}
		return ok1("+CPIN: READY")
	case body == "+QCCID":
		if !simReady {
			return cme(10)
		}
		return ok1("+QCCID: " + simICCID + "F")
	case body == "+CCID":
		if !simReady {
			return cme(10)
		}
		return ok1("+CCID: " + simICCID)
	case body == "+CIMI":
		if !simReady {
			return cme(10)
		}
		return ok1(simIMSI)
	case body == "+CEREG?" || body == "+CGREG?" || body == "+CREG?":
		name := body[:len(body)-1]
		nn := v.regN[name]
		s := r.stat(v)
		line := fmt.Sprintf("%s: %d,%d", name, nn, s)
		if nn >= 2 && (s == 1 || s == 5) {
			line += fmt.Sprintf(`,"%s","%s",7`, simTAC, simCell)
		}
		return ok1(line)
	case strings.HasPrefix(body, "+CEREG=") || strings.HasPrefix(body, "+CGREG=") || strings.HasPrefix(body, "+CREG="):
		name, arg, _ := strings.Cut(body, "=")
		x, err := strconv.Atoi(arg)
		if err != nil || x < 0 || x > 5 {
			return reply{final: "ERROR"}
		}
		v.regN[name] = x
		return ok1()
	case body == "+COPS?":
		if !registered {
			return ok1("+COPS: 0")
		}
		if v.copsFormat == 2 {
			return ok1(fmt.Sprintf(`+COPS: 0,2,"%s",7`, simPLMN))
		}
		return ok1(fmt.Sprintf(`+COPS: 0,%d,"%s",7`, v.copsFormat, simOperator))
	case strings.HasPrefix(body, "+COPS=3,"):
		x, err := strconv.Atoi(body[len("+COPS=3,"):])
		if err != nil || x < 0 || x > 2 {
			return reply{final: "ERROR"}
		}
		v.copsFormat = x
		return ok1()
	case body == "+COPS=0":
		return ok1()
	case body == "+CSQ":
		if !camped {
			return ok1("+CSQ: 99,99")
		}
		idx := int(math.Round((r.rssi() + 113) / 2))
		return ok1(fmt.Sprintf("+CSQ: %d,99", clamp(idx, 0, 31)))
	case body == "+CESQ":
		if !camped {
			return ok1("+CESQ: 99,99,255,255,255,255")
		}
		rsrp := clamp(int(math.Round(r.rsrp))+141, 0, 97)
		rsrq := clamp((simRSRQ+20)*2, 0, 34)
		return ok1(fmt.Sprintf("+CESQ: 99,99,255,255,%d,%d", rsrq, rsrp))
	case body == `+QENG="SERVINGCELL"`:
		if !camped {
			return ok1(`+QENG: "servingcell","SEARCH"`)
		}
		state := "NOCONN"
		if r.state == StateDenied {
			state = "LIMSRV"
		}
		return ok1(fmt.Sprintf(`+QENG: "servingcell","%s","LTE","FDD",452,04,%s,123,1650,3,5,5,%s,%d,%d,%d,%d,40`,
			state, simCell, simTAC, int(math.Round(r.rsrp)), simRSRQ, int(r.rssi()), simSINR))
	case body == "+CCLK?":
		if !registered {
			// Never set by the network: the modem's epoch plus uptime.
			up := now.Sub(v.started)
			t := time.Date(1980, 1, 6, 0, 0, 0, 0, time.UTC).Add(up)
			return ok1(t.Format(`+CCLK: "06/01/02,15:04:05+00"`))
		}
		vn := now.In(time.FixedZone("ICT", 7*3600))
		return ok1(vn.Format(`+CCLK: "06/01/02,15:04:05`) + `+28"`)
	case body == "+QGPS=1":
		if v.gpsOn {
			return cme(504)
		}
		v.gpsOn = true
		return ok1()
	case body == "+QGPSEND":
		if !v.gpsOn {
			return cme(505)
		}
		v.gpsOn = false
		return ok1()
	case body == "+QGPS?":
		return ok1(fmt.Sprintf("+QGPS: %d", b2i(v.gpsOn)))
	case body == "+QGPSLOC=2":
		switch {
		case !v.gpsOn:
			return cme(505)
		case r.gnss == nil:
			return cme(516)
		}
		u := now.UTC()
		return ok1(fmt.Sprintf("+QGPSLOC: %s,%.5f,%.5f,1.2,35.0,3,0.00,0.0,0.0,%s,08",
			u.Format("150405.0"), r.gnss[0], r.gnss[1], u.Format("020106")))
	case body == "+CGDCONT?":
		if n.apn == "" {
			return ok1()
		}
		return ok1(fmt.Sprintf(`+CGDCONT: 1,"%s","%s","0.0.0.0",0,0,0,0`, n.pdpType, n.apn))
	case strings.HasPrefix(body, "+CGDCONT=1,"):
		f := strings.Split(rawBody[len("+CGDCONT=1,"):], ",")
		if len(f) < 2 {
			return reply{final: "ERROR"}
		}
		t, a := strings.Trim(f[0], `"`), strings.Trim(f[1], `"`)
		if t == "" || a == "" {
			return reply{final: "ERROR"}
		}
		n.pdpType, n.apn = strings.ToUpper(t), a
		return ok1()
	case body == "+CFUN?":
		return ok1(fmt.Sprintf("+CFUN: %d", v.cfun))
	case body == "+CFUN=0" || body == "+CFUN=1" || body == "+CFUN=4":
		v.cfun = int(body[len(body)-1] - '0')
		return ok1()
	case body == "+CFUN=1,1":
		return reply{final: "OK", reset: true}
	}
	return reply{final: "ERROR"}
}

func clamp(v, lo, hi int) int { return max(lo, min(hi, v)) }

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
