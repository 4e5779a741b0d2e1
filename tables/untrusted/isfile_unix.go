//go:build unix

package untrusted

import (
	"os"
	"syscall"

	"github.com/modhunt/modhunt/tables/fileinfo"
)

// isFile reports whether f is the file k names: its device and inode.
func isFile(f *os.File, k fileinfo.Key) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && k.InoHi == 0 && uint64(st.Dev) == k.Dev && st.Ino == k.Ino //nolint:unconvert,gosec // int32 on darwin
}
