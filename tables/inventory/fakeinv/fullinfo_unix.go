//go:build unix

package fakeinv

import (
	"os"
	"syscall"

	"github.com/modhunt/modhunt/tables/inventory"
)

// fullInfo is a host stat as the inventory reports it.
func fullInfo(fi os.FileInfo) inventory.FileInfo {
	out := inventory.FileInfo{Mode: uint32(fi.Mode().Perm()), Size: fi.Size(), ModTime: fi.ModTime(), Nlink: 1}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		out.Mode, out.UID, out.GID = uint32(st.Mode), st.Uid, st.Gid //nolint:unconvert // uint16 on darwin
		out.Nlink = uint64(st.Nlink)                                 //nolint:unconvert // uint16 on darwin
	}
	out.Dev, out.Ino = devIno(fi)
	return out
}
