package inventory

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// OpenMemory opens /proc/PID/mem. It is opened relative to the pid's
// directory, like every other read, so a recycled pid fails instead of
// reading another process. Reading it needs ptrace access (root, or the
// same user under yama's ptrace_scope 0); pread of an unmapped address
// fails with EIO, which callers treat as "this region is unreadable".
func (inv *Inventory) OpenMemory(pid int) (Memory, error) {
	dir, err := inv.pidDir(pid)
	if err != nil {
		return nil, err
	}
	defer closeFD(dir)
	fd, err := unix.Openat(dir, "mem", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open mem of pid %d: %w", pid, err)
	}
	return os.NewFile(uintptr(fd), fmt.Sprintf("/proc/%d/mem", pid)), nil
}
