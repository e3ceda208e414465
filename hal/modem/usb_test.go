package modem

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/loaxa/loaxa/hal"
)

// fakeSysfs builds the sysfs of a board: an EC25 with its five
// usb-serial ports, a cdc-acm device, a pts and a console.
type fakeSysfs struct {
	t    *testing.T
	root string
}

func newFakeSysfs(t *testing.T) *fakeSysfs {
	s := &fakeSysfs{t: t, root: t.TempDir()}
	s.mkdir("class/tty")
	return s
}

func (s *fakeSysfs) mkdir(p string) string {
	d := filepath.Join(s.root, p)
	if err := os.MkdirAll(d, 0o755); err != nil {
		s.t.Fatal(err)
	}
	return d
}

func (s *fakeSysfs) write(p, content string) {
	if err := os.WriteFile(filepath.Join(s.root, p), []byte(content+"\n"), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

func (s *fakeSysfs) link(tty, target string) {
	d := s.mkdir("class/tty/" + tty)
	rel, err := filepath.Rel(d, filepath.Join(s.root, target))
	if err != nil {
		s.t.Fatal(err)
	}
	if err := os.Symlink(rel, filepath.Join(d, "device")); err != nil {
		s.t.Fatal(err)
	}
}

// usbSerial adds a modem at USB path bus (e.g. "1-1.3") with its
// interfaces 0..len(ttys)-1 as ttyUSB ports (option driver layout).
func (s *fakeSysfs) usbSerial(bus, vid, pid string, ttys ...string) {
	dev := "devices/platform/soc/usb1/" + bus
	s.mkdir(dev)
	s.write(dev+"/idVendor", vid)
	s.write(dev+"/idProduct", pid)
	for i, tty := range ttys {
		iface := dev + "/" + bus + ":1." + string(rune('0'+i))
		s.mkdir(iface + "/" + tty)
		s.write(iface+"/bInterfaceNumber", "0"+string(rune('0'+i)))
		s.link(tty, iface+"/"+tty)
	}
}

// acm adds a cdc-acm device: the tty's device is the interface itself.
func (s *fakeSysfs) acm(bus, vid, pid, tty string, iface int) {
	dev := "devices/platform/soc/usb1/" + bus
	s.mkdir(dev)
	s.write(dev+"/idVendor", vid)
	s.write(dev+"/idProduct", pid)
	in := dev + "/" + bus + ":1." + string(rune('0'+iface))
	s.mkdir(in)
	s.write(in+"/bInterfaceNumber", "0"+string(rune('0'+iface)))
	s.link(tty, in)
}

func TestFindUSBPort(t *testing.T) {
	s := newFakeSysfs(t)
	s.mkdir("class/tty/console") // no device link
	s.mkdir("devices/virtual/tty/ptmx")
	s.link("ptmx", "devices/virtual/tty/ptmx")
	s.acm("1-1.1", "1546", "1141", "ttyACM0", 2) // a u-blox modem
	// The EC25 re-enumerated after a reset: its ports are now ttyUSB5..9.
	s.usbSerial("1-1.3", "2c7c", "0125", "ttyUSB5", "ttyUSB6", "ttyUSB7", "ttyUSB8", "ttyUSB9")

	known := make([]USBID, len(KnownModems))
	for i, k := range KnownModems {
		known[i] = k.ID
	}
	tests := []struct {
		name string
		ids  []USBID
		want string
	}{
		{"known modems", known, "/dev/ttyUSB7"},
		{"by id, default interface", []USBID{{0x2c7c, 0x0125, -1}}, "/dev/ttyUSB7"},
		{"by id and interface", []USBID{{0x2c7c, 0x0125, 3}}, "/dev/ttyUSB8"},
		{"cdc-acm", []USBID{{0x1546, 0x1141, 2}}, "/dev/ttyACM0"},
		{"absent", []USBID{{0x1e0e, 0x9001, 2}}, ""},
		{"interface absent", []USBID{{0x2c7c, 0x0125, 7}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FindUSBPort(s.root, "/dev", tt.ids)
			if tt.want == "" {
				if !errors.Is(err, hal.ErrAbsent) {
					t.Fatalf("FindUSBPort = %q, %v; want ErrAbsent", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("FindUSBPort = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := FindUSBPort(filepath.Join(s.root, "nothing"), "/dev", known); !errors.Is(err, hal.ErrAbsent) {
		t.Errorf("no sysfs: err = %v, want ErrAbsent", err)
	}
}

func TestParseUSBID(t *testing.T) {
	for in, want := range map[string]USBID{
		"2c7c:0125":   {0x2c7c, 0x0125, -1},
		"2C7C:0125:2": {0x2c7c, 0x0125, 2},
		"1e0e:9001:4": {0x1e0e, 0x9001, 4},
	} {
		got, err := ParseUSBID(in)
		if err != nil || got != want {
			t.Errorf("ParseUSBID(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "2c7c", "2c7c:125", "2c7c:0125:x", "2c7c:0125:99", "zzzz:0125", "2c7c:0125:2:1"} {
		if _, err := ParseUSBID(in); err == nil {
			t.Errorf("ParseUSBID(%q) accepted", in)
		}
	}
	if s := (USBID{0x2c7c, 0x0125, 2}).String(); s != "2c7c:0125:2" {
		t.Errorf("String = %q", s)
	}
}
