package modem

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/loaxa/loaxa/hal"
)

// USBID names a modem on the USB bus and which of its interfaces is the
// AT command port.
type USBID struct {
	Vendor, Product uint16
	// Interface is the USB interface number of the AT port; -1 means the
	// one KnownModems gives for this vendor and product, else 2.
	Interface int
}

func (u USBID) String() string {
	if u.Interface < 0 {
		return fmt.Sprintf("%04x:%04x", u.Vendor, u.Product)
	}
	return fmt.Sprintf("%04x:%04x:%d", u.Vendor, u.Product, u.Interface)
}

// ParseUSBID reads "vvvv:pppp" or "vvvv:pppp:i" (hex vendor and product id
// as lsusb prints them, decimal interface number).
func ParseUSBID(s string) (USBID, error) {
	parts := strings.Split(strings.TrimSpace(s), ":")
	bad := fmt.Errorf(`USB id %q: want "vendor:product" or "vendor:product:interface" in hex, e.g. "2c7c:0125" or "2c7c:0125:2"`, truncate(s))
	if len(parts) < 2 || len(parts) > 3 {
		return USBID{}, bad
	}
	v, err1 := strconv.ParseUint(parts[0], 16, 16)
	p, err2 := strconv.ParseUint(parts[1], 16, 16)
	if err1 != nil || err2 != nil || len(parts[0]) != 4 || len(parts[1]) != 4 {
		return USBID{}, bad
	}
	id := USBID{Vendor: uint16(v), Product: uint16(p), Interface: -1}
	if len(parts) == 3 {
		i, err := strconv.Atoi(parts[2])
		if err != nil || i < 0 || i > 31 {
			return USBID{}, bad
		}
		id.Interface = i
	}
	return id, nil
}

// KnownModem is a modem the agent finds by itself on the USB bus.
type KnownModem struct {
	ID   USBID
	Name string
}

// KnownModems are the modems looked for when neither modem.port nor
// modem.usb_id is set. Their AT port is USB interface 2 (ttyUSB2 when the
// modem is the only USB serial device): 0 is the diagnostic port, 1 NMEA,
// 3 the PPP data port, which the agent must not take.
var KnownModems = []KnownModem{
	{USBID{0x2c7c, 0x0125, 2}, "Quectel EC25/EG25"},
	{USBID{0x2c7c, 0x0121, 2}, "Quectel EC21"},
	{USBID{0x2c7c, 0x0191, 2}, "Quectel EG91"},
	{USBID{0x2c7c, 0x0195, 2}, "Quectel EG95"},
	{USBID{0x2c7c, 0x0296, 2}, "Quectel BG96"},
	{USBID{0x05c6, 0x9215, 2}, "Quectel EC20"},
	{USBID{0x1e0e, 0x9001, 2}, "SIMCom SIM7500/SIM7600"},
}

// interfaceFor fills in the AT interface of id.
func interfaceFor(id USBID) int {
	if id.Interface >= 0 {
		return id.Interface
	}
	for _, k := range KnownModems {
		if k.ID.Vendor == id.Vendor && k.ID.Product == id.Product {
			return k.ID.Interface
		}
	}
	return 2
}

// FindUSBPort looks through sysRoot/class/tty (sysRoot is "/sys" on a
// board) for a tty on the AT interface of one of ids, and returns its path
// under devRoot ("/dev/ttyUSB2"). It serves option/usb-serial ports
// (ttyUSB*: the tty's device is a child of the USB interface) and cdc-acm
// ports (ttyACM*: the device is the interface). The modem's tty name
// changes when it re-enumerates after a reset; its USB ids and interface
// number do not. No match gives an error wrapping hal.ErrAbsent.
func FindUSBPort(sysRoot, devRoot string, ids []USBID) (string, error) {
	classDir := filepath.Join(sysRoot, "class", "tty")
	entries, err := os.ReadDir(classDir)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("modem: no %s: %w", classDir, hal.ErrAbsent)
	}
	if err != nil {
		return "", fmt.Errorf("modem: list ttys: %w", err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	for _, name := range names {
		dev, err := filepath.EvalSymlinks(filepath.Join(classDir, name, "device"))
		if err != nil {
			continue // a virtual tty (console, pts): no device
		}
		vendor, product, iface, ok := usbInterfaceOf(dev)
		if !ok {
			continue
		}
		for _, id := range ids {
			if id.Vendor == vendor && id.Product == product && interfaceFor(id) == iface {
				return filepath.Join(devRoot, name), nil
			}
		}
	}
	want := make([]string, len(ids))
	for i, id := range ids {
		want[i] = id.String()
	}
	return "", fmt.Errorf("modem: no tty of a USB modem %s on its AT interface: %w", strings.Join(want, ", "), hal.ErrAbsent)
}

// usbInterfaceOf walks up from a tty's device directory to its USB
// interface (the directory with bInterfaceNumber) and that interface's
// device (idVendor, idProduct).
func usbInterfaceOf(dev string) (vendor, product uint16, iface int, ok bool) {
	for d, i := dev, 0; i < 3 && d != "/" && d != "."; d, i = filepath.Dir(d), i+1 {
		num, err := readSysfs(filepath.Join(d, "bInterfaceNumber"))
		if err != nil {
			continue
		}
		n, err1 := strconv.ParseUint(num, 16, 8) // sysfs prints it as two hex digits
		usb := filepath.Dir(d)
		v, err2 := readHex16(filepath.Join(usb, "idVendor"))
		p, err3 := readHex16(filepath.Join(usb, "idProduct"))
		if err1 != nil || err2 != nil || err3 != nil {
			return 0, 0, 0, false
		}
		return v, p, int(n), true
	}
	return 0, 0, 0, false
}

func readSysfs(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	if len(b) > 64 {
		b = b[:64]
	}
	return strings.TrimSpace(string(b)), nil
}

func readHex16(path string) (uint16, error) {
	s, err := readSysfs(path)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(s, 16, 16)
	return uint16(v), err
}
