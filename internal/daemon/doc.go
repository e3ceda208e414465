// Package daemon is loaxad's process wiring: flags, the configuration
// (with a factory reset finished at start and a rescue when the file is
// broken), the hardware (real or simulated), the audio chain (the output
// device or the simulated speaker, the player, the live hub and the opener
// of play sources), the embedded broker, logging, systemd notification,
// and the agent's run and restarts (Main returns ExitRestart, and
// cmd/loaxad re-executes itself in place).
//
// The technician's serial console starts first and outlives the agent: on
// a blank board, or when the agent cannot start, the process stays up for
// it (agent.BlankConsole answers it, and systemd is told the process is alive),
// and console events made while no agent runs wait in a bounded file for
// the next one to publish them.
//
// cmd/loaxad only calls Main, so everything here is reachable from tests.
package daemon
