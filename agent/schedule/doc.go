// Package schedule is the pole's local broadcast schedule (protocol
// commands schedule.set, schedule.get, schedule.clear): the versioned
// document, its strict validation, and its evaluation in time.
//
// The package is pure: it does no I/O, reads no clock and starts no
// goroutine. The agent's owner goroutine passes "now" in, carries out the
// decisions it gets back (offer an item to the priority ladder, publish an
// event, persist the Tracker's State) and arms its own timer for NextWake.
//
// # Document
//
// Parse decodes a document strictly (unknown fields, wrong types,
// duplicate keys and trailing data are refused) and validates it as a
// whole: one bad item rejects the set, and the error names the item (index
// and id) and the field. An item occurs on its "days" (mon..sun) and/or its
// "dates" (YYYY-MM-DD), from "start" (HH:MM or HH:MM:SS, local time of
// "tz") for "duration_s" seconds or until "end". An end at or before the
// start (start 23:30, end 00:30) crosses midnight and ends the next day; an
// end equal to the start is refused. The other fields are those of the play
// command, checked by the same rules (CheckPlay).
//
// # Time zone
//
// "tz" defaults to Asia/Ho_Chi_Minh, which the package knows without any
// database (UTC+7, no daylight saving since 1975; dates before 2000 are
// refused). Any other IANA zone is read from the system's database, or,
// since a pole's image may lack /usr/share/zoneinfo, from the copy of it
// embedded in the binary (time/tzdata, about 450 KB): a schedule is
// accepted or refused the same way on every pole and on CI, and is never
// played at UTC by mistake. "Local" is refused: the pole's own setting
// must not move a broadcast.
//
// # Evaluation
//
// Between, Active and Next answer which occurrences start in a window,
// which are on air at an instant, and which comes next. A Tracker
// remembers which occurrences it already decided (started, started late,
// missed), so each fires once, also across restarts: its State is a few
// hundred bytes of JSON for the agent to persist when Result.Changed says
// so. Occurrences may overlap; the priority ladder resolves them.
//
// Nothing is decided while the clock is not synchronised (ClockGate):
// Decide answers Held and changes nothing, and StateDoc says "unsynced".
package schedule

// The embedded zone database: see "Time zone" above.
import _ "time/tzdata"
