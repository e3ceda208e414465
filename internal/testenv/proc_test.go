package testenv

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A process started with DieWithTest goes when the test binary is killed,
// which runs no Cleanup.
func TestDieWithTest(t *testing.T) {
	if os.Getenv("TESTENV_CHILD") == "1" {
		cmd := exec.Command("sleep", "600")
		DieWithTest(cmd)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		fmt.Println("PID", cmd.Process.Pid)
		os.Stdout.Sync()
		select {} // killed by the parent
	}
	if runtime.GOOS != "linux" {
		t.Skip("the parent-death signal is Linux-only")
	}
	NeedTool(t, "sleep", "coreutils")
	child := exec.Command(os.Args[0], "-test.run=^TestDieWithTest$")
	child.Env = append(os.Environ(), "TESTENV_CHILD=1")
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	for sc := bufio.NewScanner(out); sc.Scan(); {
		if _, err := fmt.Sscanf(sc.Text(), "PID %d", &pid); err == nil {
			break
		}
	}
	child.Process.Kill()
	child.Wait()
	if pid == 0 {
		t.Fatal("the child test did not report the pid of its process")
	}
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) { // the kernel kills it asynchronously: poll
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("process %d outlived its killed test binary", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDieWithTestKeepsOtherAttributes(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the parent-death signal is Linux-only")
	}
	cmd := exec.Command("true")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	DieWithTest(cmd)
	if !cmd.SysProcAttr.Setpgid {
		t.Error("DieWithTest dropped Setpgid")
	}
}

// alive reports whether pid runs; a zombie (dead, not yet reaped by an init
// that may never reap it) counts as dead.
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name: "pid (comm) S ...".
	i := strings.LastIndexByte(string(stat), ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}
