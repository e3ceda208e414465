// Package agent is the core of loaxad, the pole receiver: it owns the pole's
// state (zones, volume, alarms, the audio queue, the broadcast schedule's
// progress), executes the commands of the loaxa v1 wire contract that
// arrive over MQTT or from the technician's console, and reports state,
// events, telemetry and the playback log.
//
// One goroutine, Agent.Run, owns all of that state, so no lock guards it.
// The MQTT link (Link), the player, sources, the store's syncer and the
// agent's parts (the clock watcher, the media cache's refresh, the audio
// device's health, the console) only send it messages: inbound commands, events, and closures
// handed over with Agent.Do. Run starts the link and the parts' goroutines
// and waits for them, and for its background tasks (the reboot command),
// before it returns. Run does not wait for the network, the flash or a
// child process: broker acknowledgements, journal syncs, downloads and the
// reboot happen on other goroutines (a journal append is a write into the
// page cache; the rare rewrites of a whole file, by config.set and
// schedule.set, are atomic writes made on Run).
//
// The files follow the path of a command (docs/architecture.md draws it):
// link_recv.go receives it (link.go runs the connection, link_send.go
// delivers the outbox), handle.go decodes it, checks its signature and
// remembered answers and sends the ack, commands.go and cmd_play.go hold
// the handlers; output.go carries out what the priority ladder and the
// sequencer (agent/ladder) decide. What must survive a power cut is in
// store.go (the journals under DATA_DIR and their group commit), outbox.go
// (numbered messages kept until the broker has them), answers.go (the
// remembered ids) and playlog.go (the playback log); schedule.go and
// media.go run the broadcast schedule (agent/schedule) and the media cache
// (audio/media); fallback.go keeps the broker settings that last connected;
// device.go follows the audio device's health (audio/guard).
//
// Sub-packages hold the pure policies and what is shared with loaxactl:
// wire (the contract), config, ladder, schedule, playargs, console (the
// serial console), watchdog and health. Process wiring lives in
// internal/daemon; cross-cutting helpers under internal/.
package agent
