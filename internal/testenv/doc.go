// Package testenv holds the one policy loaxa's tests follow when they need
// a program that is not part of Go: ffmpeg and sox to make test audio,
// mosquitto for a real broker, and the like.
//
// Outside CI a developer may lack one of them, and a test that cannot run
// says so and is skipped. Under CI (the CI environment variable is true, as
// CI services and .ci/run set it) a missing tool is a failure: a skipped
// test there would look like a passing one. Either way the message names
// the Debian package that installs the tool:
//
//	ffmpeg := testenv.NeedTool(t, "ffmpeg", "ffmpeg")
//
//	paths := testenv.NeedTools(t,
//		testenv.Tool{Cmd: "mosquitto", Package: "mosquitto"},
//		testenv.Tool{Cmd: "mosquitto_sub", Package: "mosquitto-clients"})
//
// scripts/deps.sh installs every tool the tests need.
//
// The other rule is that nothing a test starts outlives it. Cleanup stops
// a process when the test ends normally; DieWithTest covers the test
// binary that dies without running Cleanup (go test's -timeout, a kill):
//
//	cmd := exec.Command(bin, args...)
//	testenv.DieWithTest(cmd)
//	if err := cmd.Start(); err != nil { ... }
//	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
package testenv
