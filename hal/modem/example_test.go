package modem_test

import (
	"fmt"

	"github.com/loaxa/loaxa/hal/modem"
)

// The APN follows the SIM's network unless the configuration names one.
func ExampleChooseAPN() {
	for _, imsi := range []string{"452040123456789", "452021234567890", "452051234567890"} {
		c := modem.ChooseAPN("", imsi, nil)
		fmt.Printf("%s: %q (%s)\n", c.PLMN, c.APN, c.Source)
	}
	fmt.Println(modem.ChooseAPN("iot.viettel", "452040123456789", nil))
	// Output:
	// 45204: "v-internet" (sim)
	// 45202: "m3-world" (sim)
	// 45205: "" ()
	// {iot.viettel config 45204}
}

// modem.usb_id names the modem and, optionally, its AT interface.
func ExampleParseUSBID() {
	id, err := modem.ParseUSBID("2c7c:0125")
	fmt.Println(id, err)
	id, err = modem.ParseUSBID("1e0e:9001:2")
	fmt.Println(id, err)
	// Output:
	// 2c7c:0125 <nil>
	// 1e0e:9001:2 <nil>
}
