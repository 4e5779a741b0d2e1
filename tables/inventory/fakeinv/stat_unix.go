//go:build unix

package fakeinv

import (
	"os"
	"syscall"

	"github.com/modhunt/modhunt/tables/fileinfo"
)

func devIno(fi os.FileInfo) (dev, ino uint64) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Dev), st.Ino //nolint:unconvert,gosec // int32 on darwin
	}
	return 0, 0
}

// fileKey is the backing file's device and inode.
func fileKey(_ string, fi os.FileInfo) fileinfo.Key {
	dev, ino := devIno(fi)
	return fileinfo.Key{Dev: dev, Ino: ino}
}
