package modem

import (
	"slices"
	"strings"
	"testing"
)

func TestParseFinal(t *testing.T) {
	tests := []struct {
		line string
		want Final
		ok   bool
	}{
		{"OK", Final{Kind: "OK", Code: -1}, true},
		{"  OK  ", Final{Kind: "OK", Code: -1}, true},
		{"ERROR", Final{Kind: "ERROR", Code: -1}, true},
		{"+CME ERROR: 10", Final{Kind: "+CME ERROR", Code: 10}, true},
		{"+CME ERROR:516", Final{Kind: "+CME ERROR", Code: 516}, true},
		{"+cme error: 3", Final{Kind: "+CME ERROR", Code: 3}, true},
		{"+CME ERROR: SIM not inserted", Final{Kind: "+CME ERROR", Code: -1, Text: "SIM not inserted"}, true},
		{"+CMS ERROR: 500", Final{Kind: "+CMS ERROR", Code: 500}, true},
		{"NO CARRIER", Final{Kind: "NO CARRIER", Code: -1}, true},
		{"BUSY", Final{Kind: "BUSY", Code: -1}, true},
		{"NO ANSWER", Final{Kind: "NO ANSWER", Code: -1}, true},
		{"NO DIALTONE", Final{Kind: "NO DIALTONE", Code: -1}, true},
		{"CONNECT", Final{Kind: "CONNECT", Code: -1}, true},
		{"CONNECT 150000000", Final{Kind: "CONNECT", Code: -1, Text: "150000000"}, true},
		{"OKAY", Final{}, false},
		{"+CSQ: 20,99", Final{}, false},
		{"ERRORS", Final{}, false},
		{"RDY", Final{}, false},
		{"", Final{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			got, ok := ParseFinal(tt.line)
			if ok != tt.ok || got != tt.want {
				t.Errorf("ParseFinal(%q) = %+v, %v; want %+v, %v", tt.line, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestCommandErrorNamesTheCode(t *testing.T) {
	err := &CommandError{Cmd: "AT+CPIN?", Final: Final{Kind: "+CME ERROR", Code: 10}}
	if !strings.Contains(err.Error(), "SIM not inserted") || !strings.Contains(err.Error(), "AT+CPIN?") {
		t.Errorf("error %q should name the command and the meaning of code 10", err)
	}
	if !CME(err, 3, 10) || CME(err, 516) {
		t.Error("CME does not match the code")
	}
}

func TestResponsePrefix(t *testing.T) {
	for cmd, want := range map[string]string{
		"AT+CSQ":                "+CSQ:",
		"AT+CEREG?":             "+CEREG:",
		`AT+QENG="servingcell"`: "+QENG:",
		"at+qccid":              "+QCCID:",
		"AT+CGDCONT=1,\"IP\"":   "+CGDCONT:",
		"ATI":                   "",
		"ATE0":                  "",
		"AT":                    "",
		"AT+":                   "",
		"AT$QCRMCALL?":          "$QCRMCALL:",
	} {
		if got := responsePrefix(cmd); got != want {
			t.Errorf("responsePrefix(%q) = %q, want %q", cmd, got, want)
		}
	}
}

func TestSplitFields(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{`"servingcell","NOCONN","LTE",452`, []string{"servingcell", "NOCONN", "LTE", "452"}},
		{`0,0,"Viettel, Inc",7`, []string{"0", "0", "Viettel, Inc", "7"}},
		{`,,`, []string{"", "", ""}},
		{``, []string{""}},
		{` 20 , 99 `, []string{"20", "99"}},
	}
	for _, tt := range tests {
		if got := splitFields(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("splitFields(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestLineSplitter(t *testing.T) {
	s := newLineSplitter(8)
	var got []string
	emit := func(l string) { got = append(got, l) }
	// Framing of every kind, fed in pieces that cut lines in two.
	for _, p := range []string{"\r\nO", "K\r\n\r\n+CSQ", ": 1\n", "AT\r", "0123456789ABC\r\nafter\n"} {
		s.Feed([]byte(p), emit)
	}
	want := []string{"OK", "+CSQ: 1", "AT", "after"}
	if !slices.Equal(got, want) {
		t.Errorf("lines = %q, want %q", got, want)
	}
	if s.Dropped != 1 {
		t.Errorf("Dropped = %d, want 1 (the line longer than 8 bytes)", s.Dropped)
	}
}
