package modem

import (
	"context"
	"errors"
	"fmt"

	"github.com/loaxa/loaxa/hal"
)

// The queries of one reading, a function per family; each returns only
// the errors that end the reading (a timeout, a failed port, ctx), a
// refused command leaves its values unknown.

// read runs the queries of one reading into r; m.sem is held.
func (m *Modem) read(ctx context.Context, c *Client, r *hal.ModemReading) error {
	if m.vendorName != "" {
		r.Vendor = ptr(m.vendorName)
	}
	if m.model != "" {
		r.Model = ptr(m.model)
	}
	if m.imei != "" {
		r.IMEI = ptr(m.imei)
	}
	for _, step := range []func(context.Context, *Client, *hal.ModemReading) error{
		m.readSIM, m.readRegistration, m.readOperator, m.readSignal, m.readClock, m.readGNSS,
	} {
		if err := step(ctx, c, r); err != nil {
			return err
		}
	}
	return nil
}

func (m *Modem) readSIM(ctx context.Context, c *Client, r *hal.ModemReading) error {
	resp, err := c.Command(ctx, "AT+CPIN?", m.cfg.CommandTimeout)
	var ce *CommandError
	switch {
	case errors.As(err, &ce):
		r.SIM = simFromError(ce.Final)
	case err != nil:
		return err
	default:
		if p, ok := resp.Prefixed("+CPIN:"); ok {
			r.SIM = parseCPIN(p)
		}
	}
	if r.SIM == nil || *r.SIM != hal.SIMReady {
		m.apnFor = ""
		return nil
	}
	iccidCmds := []string{"AT+CCID"}
	switch m.vendor {
	case vendorQuectel:
		iccidCmds = []string{"AT+QCCID", "AT+CCID"}
	case vendorSIMCom:
		iccidCmds = []string{"AT+CICCID", "AT+CCID"}
	}
	for _, cmd := range iccidCmds {
		resp, err := m.query(ctx, c, cmd)
		if err != nil {
			return err
		}
		if resp != nil {
			if r.ICCID = parseICCID(resp.Lines); r.ICCID != nil {
				break
			}
		}
	}
	resp, err = m.query(ctx, c, "AT+CIMI")
	if err != nil {
		return err
	}
	if resp != nil {
		r.IMSI = parseDigits(resp.Lines, 6, 15)
	}
	return m.ensureAPN(ctx, c, r)
}

// ensureAPN checks PDP context 1 once per SIM (and after the modem
// restarted) and writes the chosen APN only when it differs.
func (m *Modem) ensureAPN(ctx context.Context, c *Client, r *hal.ModemReading) error {
	imsi := ""
	if r.IMSI != nil {
		imsi = *r.IMSI
	}
	if imsi != "" && imsi == m.apnFor {
		if m.apn != "" {
			r.APN = ptr(m.apn)
		}
		return nil
	}
	resp, err := m.query(ctx, c, "AT+CGDCONT?")
	if err != nil || resp == nil {
		return err
	}
	ctxs := parseCGDCONT(resp.AllPrefixed("+CGDCONT:"))
	m.apn = ""
	for _, pc := range ctxs {
		if pc.cid == 1 {
			m.apn = pc.apn
		}
	}
	choice := ChooseAPN(m.cfg.APN, imsi, m.cfg.APNs)
	if choice.APN != "" {
		if cmd := apnCommand(ctxs, choice.APN); cmd != "" {
			if _, err := c.Command(ctx, cmd, m.cfg.CommandTimeout); err != nil {
				if !isRefused(err) {
					return err
				}
				m.log.Warn("modem refused the APN", "apn", choice.APN, "source", choice.Source, "err", err)
			} else {
				m.log.Info("modem APN set; it applies from the next attach", "apn", choice.APN, "was", m.apn, "source", choice.Source, "plmn", choice.PLMN)
				m.apn = choice.APN
			}
		}
	}
	if m.apn != "" {
		r.APN = ptr(m.apn)
	}
	m.apnFor = imsi
	return nil
}

func (m *Modem) readRegistration(ctx context.Context, c *Client, r *hal.ModemReading) error {
	act := -1
	// LTE first; a modem on 3G or 2G is registered in +CGREG or +CREG.
	for _, cmd := range []string{"AT+CEREG?", "AT+CGREG?", "AT+CREG?"} {
		resp, err := m.query(ctx, c, cmd)
		if err != nil {
			return err
		}
		if resp == nil {
			continue
		}
		for _, p := range resp.AllPrefixed(responsePrefix(cmd)) {
			info, ok := parseReg(p)
			if !ok || regRank(info.reg) <= regRank(r.Registration) {
				continue
			}
			r.Registration = info.reg
			if info.reg.Registered() {
				setStr(&r.Cell, info.cell)
				setStr(&r.TAC, info.tac)
				act = info.act
			}
		}
		if r.Registration != nil && r.Registration.Registered() {
			break
		}
	}
	if rat := actRAT(act); rat != "" {
		r.RAT = ptr(rat)
	}
	return nil
}

func (m *Modem) readOperator(ctx context.Context, c *Client, r *hal.ModemReading) error {
	if r.Registration != nil && !r.Registration.Registered() {
		return nil // no operator to name
	}
	for _, format := range []int{0, 2} {
		if _, err := m.query(ctx, c, fmt.Sprintf("AT+COPS=3,%d", format)); err != nil {
			return err
		}
		resp, err := m.query(ctx, c, "AT+COPS?")
		if err != nil {
			return err
		}
		if resp == nil {
			continue
		}
		p, _ := resp.Prefixed("+COPS:")
		info, ok := parseCOPS(p)
		if !ok || info.oper == "" {
			continue
		}
		switch info.format {
		case 0, 1:
			if r.Operator == nil || info.format == 0 {
				r.Operator = ptr(info.oper)
			}
		case 2:
			if mcc, mnc, ok := splitPLMN(info.oper); ok {
				r.MCC, r.MNC = ptr(mcc), ptr(mnc)
			}
		}
		if rat := actRAT(info.act); rat != "" {
			r.RAT = ptr(rat)
		}
	}
	return nil
}

func (m *Modem) readSignal(ctx context.Context, c *Client, r *hal.ModemReading) error {
	var sc servingCell
	var have bool
	switch m.vendor {
	case vendorQuectel:
		resp, err := m.query(ctx, c, `AT+QENG="servingcell"`)
		if err != nil {
			return err
		}
		if resp != nil {
			sc, have = parseQENG(resp.AllPrefixed("+QENG:"))
		}
	case vendorSIMCom:
		resp, err := m.query(ctx, c, "AT+CPSI?")
		if err != nil {
			return err
		}
		if resp != nil {
			if p, ok := resp.Prefixed("+CPSI:"); ok {
				sc, have = parseCPSI(p)
			}
		}
	}
	if have && !sc.searching {
		if sc.rat != "" {
			r.RAT = ptr(sc.rat)
		}
		setStr(&r.MCC, sc.mcc)
		setStr(&r.MNC, sc.mnc)
		setStr(&r.Cell, sc.cell)
		setStr(&r.TAC, sc.tac)
		r.RSRPdBm, r.RSRQdB, r.SINRdB, r.RSSIdBm = sc.rsrp, sc.rsrq, sc.sinr, sc.rssi
	}
	if r.RSSIdBm == nil {
		resp, err := m.query(ctx, c, "AT+CSQ")
		if err != nil {
			return err
		}
		if resp != nil {
			if p, ok := resp.Prefixed("+CSQ:"); ok {
				r.RSSIdBm = parseCSQ(p)
			}
		}
	}
	if r.RSRPdBm == nil && (r.RAT == nil || *r.RAT == "LTE" || *r.RAT == "CAT-M" || *r.RAT == "NB-IoT") && !sc.searching {
		resp, err := m.query(ctx, c, "AT+CESQ")
		if err != nil {
			return err
		}
		if resp != nil {
			if p, ok := resp.Prefixed("+CESQ:"); ok {
				r.RSRPdBm, r.RSRQdB = parseCESQ(p)
			}
		}
	}
	return nil
}

func setStr(dst **string, s string) {
	if s != "" {
		*dst = &s
	}
}

func (m *Modem) readClock(ctx context.Context, c *Client, r *hal.ModemReading) error {
	resp, err := m.query(ctx, c, "AT+CCLK?")
	if err != nil || resp == nil {
		return err
	}
	if p, ok := resp.Prefixed("+CCLK:"); ok {
		r.NetworkTime = parseCCLK(p)
	}
	return nil
}

func (m *Modem) readGNSS(ctx context.Context, c *Client, r *hal.ModemReading) error {
	if m.cfg.NoGNSS {
		return nil
	}
	switch m.vendor {
	case vendorQuectel:
		resp, err := c.Command(ctx, "AT+QGPSLOC=2", m.cfg.CommandTimeout)
		switch {
		case CME(err, 516): // no fix yet
			r.GNSS = &hal.GNSSReading{}
		case CME(err, 505): // the receiver is off: turn it on for next time
			r.GNSS = &hal.GNSSReading{}
			if _, err := m.query(ctx, c, "AT+QGPS=1"); err != nil {
				return err
			}
		case isRefused(err):
		case err != nil:
			return err
		default:
			if p, ok := resp.Prefixed("+QGPSLOC:"); ok {
				r.GNSS = parseQGPSLOC(p)
			}
		}
	case vendorSIMCom:
		resp, err := m.query(ctx, c, "AT+CGNSSINFO")
		if err != nil {
			return err
		}
		if resp != nil {
			if p, ok := resp.Prefixed("+CGNSSINFO:"); ok {
				r.GNSS = parseCGNSSINFO(p)
				return nil
			}
		}
		resp, err = m.query(ctx, c, "AT+CGPSINFO")
		if err != nil || resp == nil {
			return err
		}
		if p, ok := resp.Prefixed("+CGPSINFO:"); ok {
			r.GNSS = parseCGPSINFO(p)
		}
	}
	return nil
}
