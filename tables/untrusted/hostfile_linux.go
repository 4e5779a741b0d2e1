package untrusted

import (
	"os"
	"path/filepath"
	"syscall"
)

// hostFile is the identity of the file the host's own view names path: the
// file a package database entry for path describes (ok false when the host
// has no regular file there).
func hostFile(hostRoot, path string) hostID {
	fi, err := os.Stat(filepath.Join(hostRoot, path))
	if err != nil {
		return hostID{}
	}
	st, isStat := fi.Sys().(*syscall.Stat_t)
	if !isStat || !fi.Mode().IsRegular() {
		return hostID{}
	}
	return hostID{dev: st.Dev, ino: st.Ino, size: fi.Size(), mtime: fi.ModTime(), ok: true}
}
