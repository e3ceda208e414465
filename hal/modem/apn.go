package modem

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// DefaultAPNs are the APNs of Vietnam's networks, by the SIM's MCC and MNC
// (the first five digits of its IMSI), as the operators publish them for
// mobile data. Vietnamobile (452-05) and Gmobile (452-07) are left out: an
// APN nobody has checked on a pole is worse than the one the SIM brought
// (modems fill context 1 from the SIM or the network), so for them the
// modem's own setting is kept unless modem.apn says otherwise.
var DefaultAPNs = map[string]string{
	"45201": "m-wap",      // MobiFone
	"45202": "m3-world",   // VinaPhone
	"45204": "v-internet", // Viettel
}

// APNChoice is the APN a modem should use and why.
type APNChoice struct {
	// APN is "" when nothing is known: leave the modem's setting alone.
	APN string
	// Source is "config" (modem.apn), "sim" (the default for the SIM's
	// network) or "" (none).
	Source string
	// PLMN is the SIM's MCC and MNC as read from the IMSI ("45204"), or "".
	PLMN string
}

// ChooseAPN picks the APN: the configured one when set, else the default
// for the SIM's home network (from its IMSI) in table (DefaultAPNs when
// nil). MNCs are 2 or 3 digits depending on the country; a 3-digit entry
// in the table is tried first.
func ChooseAPN(configured, imsi string, table map[string]string) APNChoice {
	if table == nil {
		table = DefaultAPNs
	}
	var c APNChoice
	if len(imsi) >= 6 && allDigits(imsi) {
		for _, n := range []int{6, 5} {
			if apn, ok := table[imsi[:n]]; ok {
				c.PLMN, c.APN, c.Source = imsi[:n], apn, "sim"
				break
			}
		}
		if c.PLMN == "" {
			c.PLMN = imsi[:5]
		}
	}
	if configured != "" {
		c.APN, c.Source = configured, "config"
	}
	return c
}

// CheckAPN says what is wrong with an APN from the configuration: 1 to 62
// 100 characters of letters, digits, '-' and '.', with no empty label
// between dots (3GPP TS 23.003 §9.1; a quote or a comma would also break
// the AT+CGDCONT command line).
func CheckAPN(apn string) error {
	if apn == "" {
		return nil
	}
	if len(apn) > 100 {
		return fmt.Errorf("APN %q is %d characters long, want at most 100", truncate(apn), len(apn))
	}
	for i := 0; i < len(apn); i++ {
		c := apn[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return fmt.Errorf("APN %q has %q at position %d, want letters, digits, '-' and '.'", truncate(apn), c, i+1)
		}
	}
	if strings.HasPrefix(apn, ".") || strings.HasSuffix(apn, ".") || strings.Contains(apn, "..") {
		return fmt.Errorf("APN %q: labels between dots must not be empty", apn)
	}
	return nil
}

// CheckAPNTable checks a table of APNs by PLMN ("45204" → "v-internet").
func CheckAPNTable(table map[string]string) error {
	for _, plmn := range slices.Sorted(maps.Keys(table)) {
		if (len(plmn) != 5 && len(plmn) != 6) || !allDigits(plmn) {
			return fmt.Errorf("APN table: key %q: want the MCC and MNC as 5 or 6 digits, e.g. 45204", plmn)
		}
		if err := CheckAPN(table[plmn]); err != nil {
			return fmt.Errorf("APN table: %s: %w", plmn, err)
		}
	}
	return nil
}

// apnCommand returns the AT+CGDCONT command that sets context 1 to apn,
// or "" when ctxs already has it (so the modem's flash is not written for
// nothing: the EC25 keeps contexts in NV memory). The PDP type the modem
// had is kept; "IP" when it had none.
func apnCommand(ctxs []pdpContext, apn string) string {
	pdpType := "IP"
	for _, c := range ctxs {
		if c.cid != 1 {
			continue
		}
		if strings.EqualFold(c.apn, apn) {
			return ""
		}
		if t := strings.ToUpper(c.pdpType); t == "IP" || t == "IPV6" || t == "IPV4V6" {
			pdpType = t
		}
	}
	return fmt.Sprintf(`AT+CGDCONT=1,"%s","%s"`, pdpType, apn)
}
