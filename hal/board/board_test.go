package board

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/loaxa/loaxa/hal"
)

func TestCPUTemp(t *testing.T) {
	tests := []struct {
		name       string
		content    *string // nil: no file
		want       float64
		wantAbsent bool
		wantErr    string
	}{
		{name: "pi reading", content: ptr("48312\n"), want: 48.312},
		{name: "no newline", content: ptr("61000"), want: 61},
		{name: "below zero", content: ptr("-5500\n"), want: -5.5},
		{name: "missing file", wantAbsent: true},
		{name: "garbage", content: ptr("hot\n"), wantErr: `"hot"`},
		{name: "empty", content: ptr(""), wantErr: `got ""`},
		{name: "degrees not millidegrees", content: ptr("48.3\n"), wantErr: "millidegrees"},
		{name: "sensor fault", content: ptr("-273000\n"), wantErr: "sensor fault"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "temp")
			if tt.content != nil {
				if err := os.WriteFile(path, []byte(*tt.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			b := &Board{ThermalPath: path}
			got, err := b.CPUTemp()
			switch {
			case tt.wantAbsent:
				if !errors.Is(err, hal.ErrAbsent) {
					t.Fatalf("err = %v, want ErrAbsent", err)
				}
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || errors.Is(err, hal.ErrAbsent) {
					t.Fatalf("err = %v, want a failure (not ErrAbsent) mentioning %s", err, tt.wantErr)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if got != tt.want {
					t.Errorf("CPUTemp = %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestCPUTempUnreadableIsAFailure(t *testing.T) {
	// A directory where the file should be: present, but broken.
	b := &Board{ThermalPath: t.TempDir()}
	if _, err := b.CPUTemp(); err == nil || errors.Is(err, hal.ErrAbsent) {
		t.Fatalf("err = %v, want a failure that is not ErrAbsent", err)
	}
	if _, err := (&Board{}).CPUTemp(); !errors.Is(err, hal.ErrAbsent) {
		t.Fatalf("no thermal path: err = %v, want ErrAbsent", err)
	}
}

func TestReboot(t *testing.T) {
	var got []string
	b := New()
	b.Run = func(ctx context.Context, name string, args ...string) error {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("reboot command runs without a deadline")
		}
		got = append([]string{name}, args...)
		return nil
	}
	if err := b.Reboot(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"systemctl", "reboot"}) {
		t.Errorf("ran %q, want systemctl reboot", got)
	}

	b.Run = func(context.Context, string, ...string) error { return errors.New("Access denied") }
	if err := b.Reboot(); err == nil || !strings.Contains(err.Error(), "Access denied") || !strings.Contains(err.Error(), "systemctl reboot") {
		t.Errorf("failed reboot: err = %v, want the command and the cause", err)
	}

	if err := (&Board{}).Reboot(); err == nil {
		t.Error("Reboot without a command succeeded")
	}
}

func TestRunCommandReportsOutput(t *testing.T) {
	b := &Board{RebootCommand: []string{"sh", "-c", "echo 'Failed to reboot: permission' >&2; exit 1"}}
	err := b.Reboot()
	if err == nil || !strings.Contains(err.Error(), "Failed to reboot: permission") {
		t.Fatalf("err = %v, want the command's own message", err)
	}
	b.RebootCommand = []string{"true"}
	if err := b.Reboot(); err != nil {
		t.Fatalf("successful command: %v", err)
	}
}

func TestDefaults(t *testing.T) {
	b := New()
	if b.ThermalPath != "/sys/class/thermal/thermal_zone0/temp" {
		t.Errorf("ThermalPath = %q", b.ThermalPath)
	}
	if b.Halt() != nil || b.String() == "" {
		t.Error("Halt or String misbehave")
	}
}

func ptr(s string) *string { return &s }
