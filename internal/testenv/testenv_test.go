package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// recorder is a testing.TB that records how the test would have ended
// instead of ending it; Fatalf and Skipf end the calling goroutine, as the
// real ones do.
type recorder struct {
	testing.TB
	failed, skipped bool
	msg             string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Skipf(format string, args ...any) {
	r.skipped, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls f with a recorder in its own goroutine, as the testing package
// runs a test, and returns the recorder once f has returned or ended.
func run(t *testing.T, f func(tb testing.TB) []string) (*recorder, []string) {
	r := &recorder{TB: t}
	var paths []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		paths = f(r)
	}()
	<-done
	return r, paths
}

// installed pretends that only the named commands are installed, in /bin.
func installed(cmds ...string) func(string) (string, error) {
	return func(cmd string) (string, error) {
		for _, c := range cmds {
			if c == cmd {
				return "/bin/" + cmd, nil
			}
		}
		return "", errors.New("not found")
	}
}

func TestPolicy(t *testing.T) {
	ffmpeg := Tool{Cmd: "ffmpeg", Package: "ffmpeg"}
	sub := Tool{Cmd: "mosquitto_sub", Package: "mosquitto-clients"}
	pub := Tool{Cmd: "mosquitto_pub", Package: "mosquitto-clients"}
	tests := []struct {
		name      string
		ci        bool
		installed []string
		tools     []Tool
		wantPaths []string // when the test goes on
		fail      bool
		skip      bool
		wantMsg   []string
	}{
		{name: "installed, outside CI", installed: []string{"ffmpeg"}, tools: []Tool{ffmpeg}, wantPaths: []string{"/bin/ffmpeg"}},
		{name: "installed, under CI", ci: true, installed: []string{"ffmpeg", "mosquitto_sub"}, tools: []Tool{sub, ffmpeg},
			wantPaths: []string{"/bin/mosquitto_sub", "/bin/ffmpeg"}},
		{name: "missing outside CI skips", tools: []Tool{ffmpeg}, skip: true,
			wantMsg: []string{"skipped", "ffmpeg is not installed", "install the Debian package ffmpeg", "apt-get install ffmpeg", "Under CI=true this is a failure"}},
		{name: "missing under CI fails", ci: true, tools: []Tool{ffmpeg}, fail: true,
			wantMsg: []string{"ffmpeg is not installed", "install the Debian package ffmpeg", "apt-get install ffmpeg", "CI is set"}},
		{name: "every missing tool in one message, each package once", ci: true, installed: []string{"ffmpeg"}, tools: []Tool{sub, ffmpeg, pub}, fail: true,
			wantMsg: []string{"mosquitto_sub, mosquitto_pub are not installed", "install the Debian package mosquitto-clients", "apt-get install mosquitto-clients;"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, paths := run(t, func(tb testing.TB) []string { return need(tb, tt.ci, installed(tt.installed...), tt.tools) })
			if r.failed != tt.fail || r.skipped != tt.skip {
				t.Fatalf("failed %v, skipped %v (%q); want failed %v, skipped %v", r.failed, r.skipped, r.msg, tt.fail, tt.skip)
			}
			if !tt.fail && !tt.skip && strings.Join(paths, " ") != strings.Join(tt.wantPaths, " ") {
				t.Errorf("paths %q, want %q", paths, tt.wantPaths)
			}
			for _, w := range tt.wantMsg {
				if !strings.Contains(r.msg, w) {
					t.Errorf("message %q lacks %q", r.msg, w)
				}
			}
			if strings.Count(r.msg, "mosquitto-clients") > 2 {
				t.Errorf("message %q names a package more than once per list", r.msg)
			}
		})
	}
}

func TestCIValues(t *testing.T) {
	for v, want := range map[string]bool{"true": true, "1": true, "TRUE": true, " true ": true, "": false, "false": false, "0": false, "yes": false} {
		if got := isTrue(v); got != want {
			t.Errorf("CI=%q: CI() = %v, want %v", v, got, want)
		}
	}
	t.Setenv("CI", "true")
	if !CI() {
		t.Error("CI() false with CI=true")
	}
	t.Setenv("CI", "")
	if CI() {
		t.Error("CI() true with CI empty")
	}
}

func TestMissing(t *testing.T) {
	for _, ci := range []bool{false, true} {
		r, _ := run(t, func(tb testing.TB) []string {
			end(tb, ci, "ALSA's file plugin is missing")
			return nil
		})
		if r.failed != ci || r.skipped == ci || !strings.Contains(r.msg, "ALSA's file plugin") {
			t.Errorf("CI %v: failed %v, skipped %v, %q", ci, r.failed, r.skipped, r.msg)
		}
	}
}

// look finds a daemon in an sbin directory a non-root $PATH lacks, as
// Debian's mosquitto is, and the ordinary commands on $PATH.
func TestLookSearchesSbin(t *testing.T) {
	sh, err := look("sh")
	if err != nil || !filepath.IsAbs(sh) {
		t.Fatalf("look(sh) = %q, %v", sh, err)
	}
	t.Setenv("PATH", t.TempDir())
	if _, err := look("sh"); err == nil {
		t.Error("found sh with an empty $PATH: it is not in an sbin directory")
	}
	var daemon string
	for _, dir := range sbinDirs {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
				daemon = e.Name()
				break
			}
		}
		if daemon != "" {
			break
		}
	}
	if daemon == "" {
		t.Skip("no program in any sbin directory of this machine")
	}
	if p, err := look(daemon); err != nil {
		t.Errorf("look(%q) with an empty $PATH: %v; want it found in an sbin directory", daemon, err)
	} else if !strings.HasSuffix(p, "/"+daemon) {
		t.Errorf("look(%q) = %q", daemon, p)
	}
}
