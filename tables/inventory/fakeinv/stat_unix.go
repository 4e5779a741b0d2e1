//go:build unix

package fakeinv

import (
	"os"
	"syscall"
)

func devIno(fi os.FileInfo) (dev, ino uint64) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Dev), st.Ino //nolint:unconvert,gosec // int32 on darwin
	}
	return 0, 0
}
