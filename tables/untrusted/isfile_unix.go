//go:build unix

package untrusted

import (
	"os"
	"syscall"
)

// isFile reports whether f is the file with device dev and inode ino.
func isFile(f *os.File, dev, ino uint64) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && uint64(st.Dev) == dev && st.Ino == ino //nolint:unconvert,gosec // int32 on darwin
}
