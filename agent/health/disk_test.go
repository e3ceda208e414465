package health

import (
	"strings"
	"testing"
)

func TestDiskSpace(t *testing.T) {
	d, err := DiskSpace(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if d.Total == 0 || d.Free > d.Total {
		t.Errorf("DiskSpace = %+v", d)
	}
	if _, err := DiskSpace("/nonexistent/loaxa"); err == nil || !strings.Contains(err.Error(), "/nonexistent/loaxa") {
		t.Errorf("missing directory: err = %v", err)
	}
}

func TestDiskLow(t *testing.T) {
	const mib = 1 << 20
	p := DiskLow{MinFree: 100 * mib}
	active := false
	for i, tt := range []struct {
		free uint64
		want bool
	}{
		{500 * mib, false},
		{99 * mib, true},
		{105 * mib, true}, // within the margin (10 MiB)
		{111 * mib, false},
		{100 * mib, false}, // exactly the minimum is enough
		{10, true},
	} {
		var detail string
		active, detail = p.Active(active, Disk{Free: tt.free, Total: 1 << 30})
		if active != tt.want || active != (detail != "") {
			t.Fatalf("step %d (%d MiB free): active %v %q, want %v", i, tt.free/mib, active, detail, tt.want)
		}
	}
}
