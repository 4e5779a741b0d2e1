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

// isFile reports whether f is the file with device dev and inode ino.
func isFile(f *os.File, dev, ino uint64) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Dev == dev && st.Ino == ino
}
