// Package supervisor runs the pole agent from one of two slots and keeps
// a bad release from bricking the pole: it is what systemd starts
// (`loaxad supervise`, with loaxad's own flags), and it starts the active
// slot's binary as its child with the same arguments and environment.
//
// On an empty data directory it installs its own binary as slot a and
// commits it. When the agent has installed a release into the other slot
// it exits with ExitSwitch; the supervisor checks that slot (size,
// SHA-256, signature), persists the trial, and starts it. The new version
// must report healthy through Conn.ReportHealthy within the trial time;
// then it is committed. If it crashes, hangs or never reports healthy,
// the supervisor goes back to the committed slot, never starts that
// binary again, and records why: the old agent finds the record in
// ota.BootInfo.Log and reports ota.rolled_back. A committed version that
// exits too often falls back to the other slot, on trial, if it can run.
//
// Every decision is written to boot.json (internal/atomicfile) before it
// is acted on, so a power cut anywhere finds the fallback armed. The
// agent's side is Attach/Conn; the exit statuses are ExitRestart and
// ExitSwitch. docs/ota.md has the whole picture.
package supervisor
