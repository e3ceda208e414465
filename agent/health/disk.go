package health

import (
	"fmt"
	"syscall"
)

// Disk is the free space of a partition.
type Disk struct {
	// Free is what an unprivileged writer can still use; Total the size.
	Free, Total uint64
}

// DiskSpace reads the free space of the partition holding dir (statfs).
func DiskSpace(dir string) (Disk, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return Disk{}, fmt.Errorf("health: free space of %s: %w", dir, err)
	}
	bs := uint64(st.Bsize)
	return Disk{Free: st.Bavail * bs, Total: st.Blocks * bs}, nil
}

// DiskLow is the data-partition alarm policy (health.disk_min_free_mb):
// disk_low is raised when less than MinFree bytes are free and cleared
// when the free space is back above MinFree plus a tenth (at least 1 MiB),
// so that a journal growing and shrinking around the limit does not flap.
type DiskLow struct {
	MinFree uint64
}

// Active says whether disk_low is active after reading d, given whether it
// was before, and its detail for people.
func (p DiskLow) Active(was bool, d Disk) (bool, string) {
	margin := max(p.MinFree/10, 1<<20)
	active := d.Free < p.MinFree || was && d.Free < p.MinFree+margin
	if !active {
		return false, ""
	}
	return true, fmt.Sprintf("%d MiB free on the data partition, want at least %d MiB", d.Free>>20, p.MinFree>>20)
}
