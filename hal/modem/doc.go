// Package modem is the hal.Modem of a 4G modem on its AT command port:
// Quectel EC25/EG25-class and SIMCom SIM7600-class modules on USB, and any
// modem that speaks 3GPP TS 27.007.
//
// Three layers, each usable alone:
//
//   - Client talks AT over an open port (go.bug.st/serial on a board, a
//     pseudo-terminal in tests): one command at a time, a timeout per
//     command, final result codes (OK, ERROR, +CME ERROR: n, +CMS ERROR,
//     NO CARRIER, ...), unsolicited result codes routed to handlers, echo
//     on or off, stray lines and noise dropped, lines bounded in length.
//   - Modem finds the port (a configured path, or the USB vendor/product
//     id and interface number through sysfs), opens it, detects the vendor
//     (AT+CGMI) and normalises its answers into one hal.ModemReading:
//     +QENG="servingcell" on Quectel, +CPSI? on SIMCom, +CSQ, +CESQ,
//     +COPS?, +CEREG?, ICCID, IMEI, IMSI, +CCLK? and GNSS (+QGPSLOC,
//     +CGNSSINFO) everywhere they apply. It sets the APN of PDP context 1
//     (configured, or chosen by the SIM's network) and writes it only when
//     it differs. A modem that left the bus (USB reset) is found and opened
//     again, under whatever tty name it now has.
//   - Poller reads the modem on its own interval in its own goroutine and
//     hands out the latest sample, and carries out the watchdog's radio
//     cycle and reset on request, so that the agent never waits on the
//     modem.
//
// The parsers are pure functions over the answers; testdata/ holds
// transcripts of real Quectel and SIMCom answers (from their public AT
// manuals and field logs) with the readings they must give.
//
// The agent uses the AT port only. The data link (QMI, ECM, PPP on the
// other ports) belongs to the OS; ModemManager, if installed, must be
// kept off the AT port with a udev rule (docs/hardware.md).
package modem
