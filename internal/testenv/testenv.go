package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Tool is a command a test runs and the Debian package that installs it.
type Tool struct {
	Cmd     string // e.g. "mosquitto_sub"
	Package string // e.g. "mosquitto-clients"
}

// sbinDirs are searched after $PATH: Debian puts daemons such as mosquitto
// there, and a non-root shell often lacks them on its $PATH.
var sbinDirs = []string{"/usr/local/sbin", "/usr/sbin", "/sbin"}

// CI reports whether the tests run under continuous integration: the CI
// environment variable holds a true value ("true", "1", ...). CI services
// set it, and so does .ci/run.
func CI() bool { return isTrue(os.Getenv("CI")) }

func isTrue(s string) bool {
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	return err == nil && b
}

// NeedTool returns the path of the command cmd, looked up on $PATH and then
// in /usr/local/sbin, /usr/sbin and /sbin. If cmd is not installed the test
// cannot run: under CI it fails, naming pkg, the Debian package that
// installs cmd; otherwise it is skipped with the same message.
func NeedTool(tb testing.TB, cmd, pkg string) string {
	tb.Helper()
	return need(tb, CI(), look, []Tool{{Cmd: cmd, Package: pkg}})[0]
}

// NeedTools is NeedTool for several commands. It reports every missing one
// in one message, so that one apt-get line installs them all, and returns
// the paths in the order of tools.
func NeedTools(tb testing.TB, tools ...Tool) []string {
	tb.Helper()
	return need(tb, CI(), look, tools)
}

// Missing ends a test that cannot run because what (a library, a device,
// a file) is not there: under CI it fails, otherwise it is skipped. pkg is
// the Debian package that provides it ("" if none does).
func Missing(tb testing.TB, what, pkg string) {
	tb.Helper()
	msg := what + " is missing"
	if pkg != "" {
		msg += "; install the Debian package " + pkg + " (apt-get install " + pkg + ")"
	}
	end(tb, CI(), msg)
}

func need(tb testing.TB, ci bool, look func(string) (string, error), tools []Tool) []string {
	tb.Helper()
	paths := make([]string, len(tools))
	var cmds, pkgs []string
	for i, t := range tools {
		p, err := look(t.Cmd)
		if err != nil {
			cmds = append(cmds, t.Cmd)
			if t.Package != "" && !slices.Contains(pkgs, t.Package) {
				pkgs = append(pkgs, t.Package)
			}
			continue
		}
		paths[i] = p
	}
	if len(cmds) == 0 {
		return paths
	}
	verb := "is"
	if len(cmds) > 1 {
		verb = "are"
	}
	msg := fmt.Sprintf("%s %s not installed (looked on $PATH and in %s)", strings.Join(cmds, ", "), verb, strings.Join(sbinDirs, ", "))
	switch len(pkgs) {
	case 0:
	case 1:
		msg += "; install the Debian package " + pkgs[0]
	default:
		msg += "; install the Debian packages " + strings.Join(pkgs, ", ")
	}
	if len(pkgs) > 0 {
		msg += " (apt-get install " + strings.Join(pkgs, " ") + "; scripts/deps.sh installs every tool the tests need)"
	}
	end(tb, ci, msg)
	return paths // not reached: end stops the test
}

// end fails or skips the test with msg, by the CI policy.
func end(tb testing.TB, ci bool, msg string) {
	tb.Helper()
	if ci {
		tb.Fatalf("%s. CI is set, so a missing tool fails the test rather than skipping it", msg)
	}
	tb.Skipf("skipped: %s. Under CI=true this is a failure", msg)
}

// look finds cmd on $PATH, then in sbinDirs.
func look(cmd string) (string, error) {
	p, err := exec.LookPath(cmd)
	if err == nil {
		return p, nil
	}
	if strings.ContainsRune(cmd, filepath.Separator) {
		return "", err
	}
	for _, dir := range sbinDirs {
		p := filepath.Join(dir, cmd)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.Join(err, fmt.Errorf("%s: not in %s", cmd, strings.Join(sbinDirs, ", ")))
}
