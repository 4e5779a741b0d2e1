package untrusted

import (
	"os"
	"path/filepath"
	"syscall"
)

// hostFile is the identity of the file the host's own view names path: the
// file a package database entry for path describes.
func hostFile(hostRoot, path string) (hostID, bool) {
	fi, err := os.Stat(filepath.Join(hostRoot, path))
	if err != nil {
		return hostID{}, false
	}
	st, isStat := fi.Sys().(*syscall.Stat_t)
	if !isStat || !fi.Mode().IsRegular() {
		return hostID{}, false
	}
	return hostID{dev: st.Dev, ino: st.Ino, size: fi.Size(), mtime: fi.ModTime()}, true
}
