package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

var (
	mu    sync.Mutex // guards dir and built
	dir   string
	built = map[string]string{}
)

// Path builds ./cmd/NAME of this module (once per process) and returns the
// binary's path. Ldflags are added to the build (e.g. "-X main.version=v1").
func Path(name string, ldflags ...string) (string, error) {
	mu.Lock()
	defer mu.Unlock()
	key := name + "\x00" + strings.Join(ldflags, " ")
	if p, ok := built[key]; ok {
		return p, nil
	}
	if dir == "" {
		d, err := os.MkdirTemp("", "loaxa-testbin-")
		if err != nil {
			return "", err
		}
		dir = d
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, fmt.Sprintf("%s-%d", name, len(built)))
	args := []string{"build", "-o", out}
	if len(ldflags) > 0 {
		args = append(args, "-ldflags", strings.Join(ldflags, " "))
	}
	args = append(args, "./cmd/"+name)
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/%s: %v\n%s", name, err, b)
	}
	built[key] = out
	return out, nil
}

// Cleanup removes every binary built; call it from TestMain after m.Run.
func Cleanup() {
	mu.Lock()
	defer mu.Unlock()
	if dir != "" {
		os.RemoveAll(dir)
	}
	dir, built = "", map[string]string{}
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the loaxa module")
	}
	return filepath.Dir(mod), nil
}
