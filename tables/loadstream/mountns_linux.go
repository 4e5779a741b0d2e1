package loadstream

import (
	"path/filepath"

	"golang.org/x/sys/unix"
)

// ownMountNS is the inode of this process's mount namespace, as the
// kernel side reports a load's (0 when unknown).
func ownMountNS(procFS string) uint32 {
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(procFS, "self", "ns", "mnt"), &st); err != nil {
		return 0
	}
	return uint32(st.Ino)
}
