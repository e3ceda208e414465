// Package modem emulates a Quectel EC25-class 4G modem behind a
// pseudo-terminal, so that the real AT code (hal/modem over
// go.bug.st/serial) runs against it unchanged: loaxad --sim uses it, and
// tests drive it into every state a pole's modem goes through.
//
// It answers, from its state, the commands hal/modem sends: ATE, ATI,
// +CGMI, +CGMM, +CGSN, +CPIN?, +QCCID, +CCID, +CIMI, +CEREG/+CGREG/+CREG,
// +COPS, +CSQ, +CESQ, +QENG="servingcell", +CCLK?, +QGPS, +QGPSLOC=2,
// +CGDCONT and +CFUN (AT+CFUN=1,1 makes it leave and come back, as a real
// reset does); anything else gets ERROR. Echo is on until ATE0, as on a
// modem fresh from power-up, and every (re)start begins with RDY.
//
// It is controlled from outside the process through files in its
// directory (loaxad --sim uses DATA_DIR/sim/modem):
//
//	DIR/state   registered | searching | denied | no-sim
//	            | silent (reads commands, answers nothing)
//	            | garbage (answers noise)
//	            | gone (the tty disappears; it comes back under
//	              another name when the state changes again)
//	DIR/rsrp    the RSRP in dBm, e.g. -95
//	DIR/gnss    "LAT,LON" in decimal degrees, or empty for no fix
//	DIR/tty     symlink to the current tty (absent while gone): the
//	            stable path to give the agent as modem.port
//	DIR/at.log  every command received, one per line after its time;
//	            past 1 MiB it becomes at.log.1
//
// A control file holding nonsense is ignored (and logged), keeping the
// previous value. Unlike the rest of package sim, the modem runs
// goroutines: one watches the control files, one per tty answers it;
// Close stops them.
package modem
