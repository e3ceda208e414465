package modem

import (
	"strings"
	"testing"
)

func TestChooseAPN(t *testing.T) {
	tests := []struct {
		name, configured, imsi string
		table                  map[string]string
		want                   APNChoice
	}{
		{"Viettel", "", "452040123456789", nil, APNChoice{"v-internet", "sim", "45204"}},
		{"VinaPhone", "", "452021234567890", nil, APNChoice{"m3-world", "sim", "45202"}},
		{"MobiFone", "", "452011234567890", nil, APNChoice{"m-wap", "sim", "45201"}},
		{"Vietnamobile: keep the modem's", "", "452051234567890", nil, APNChoice{"", "", "45205"}},
		{"configured wins", "iot.viettel", "452040123456789", nil, APNChoice{"iot.viettel", "config", "45204"}},
		{"no SIM", "", "", nil, APNChoice{}},
		{"no SIM, configured", "v-internet", "", nil, APNChoice{"v-internet", "config", ""}},
		{"three-digit MNC", "", "310260123456789", map[string]string{"310260": "fast.t-mobile.com", "31026": "wrong"}, APNChoice{"fast.t-mobile.com", "sim", "310260"}},
		{"garbage IMSI", "", "45204abc", nil, APNChoice{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ChooseAPN(tt.configured, tt.imsi, tt.table); got != tt.want {
				t.Errorf("ChooseAPN = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCheckAPN(t *testing.T) {
	for _, ok := range []string{"", "v-internet", "m3-world", "iot.viettel.vn", "M-WAP"} {
		if err := CheckAPN(ok); err != nil {
			t.Errorf("CheckAPN(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{`v"internet`, "a,b", "a b", ".x", "x.", "a..b", strings.Repeat("a", 101), "viettel\r\nAT+CFUN=0"} {
		if err := CheckAPN(bad); err == nil {
			t.Errorf("CheckAPN(%q) accepted", bad)
		}
	}
	if err := CheckAPNTable(map[string]string{"4520": "x"}); err == nil {
		t.Error("a 4-digit PLMN was accepted")
	}
	if _, err := New(Config{APN: "bad apn"}); err == nil || !strings.Contains(err.Error(), "bad apn") {
		t.Errorf("New with a bad APN: %v", err)
	}
}

func TestAPNCommand(t *testing.T) {
	tests := []struct {
		name string
		ctxs []pdpContext
		apn  string
		want string
	}{
		{"same: nothing written", []pdpContext{{1, "IP", "v-internet"}}, "v-internet", ""},
		{"same but case", []pdpContext{{1, "IP", "V-Internet"}}, "v-internet", ""},
		{"different: type kept", []pdpContext{{1, "IPV4V6", "ims"}}, "v-internet", `AT+CGDCONT=1,"IPV4V6","v-internet"`},
		{"no context 1", []pdpContext{{2, "IPV6", "ims"}}, "m-wap", `AT+CGDCONT=1,"IP","m-wap"`},
		{"odd type", []pdpContext{{1, "PPP", ""}}, "m-wap", `AT+CGDCONT=1,"IP","m-wap"`},
	}
	for _, tt := range tests {
		if got := apnCommand(tt.ctxs, tt.apn); got != tt.want {
			t.Errorf("%s: apnCommand = %q, want %q", tt.name, got, tt.want)
		}
	}
}
