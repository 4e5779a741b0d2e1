//go:build !unix && !windows

package fakeinv

import (
	"os"

	"github.com/modhunt/modhunt/tables/fileinfo"
)

// fileKey: this OS gives no file identity.
func fileKey(string, os.FileInfo) fileinfo.Key { return fileinfo.Key{} }

// hostPerm is the backing file's permission bits without group and other
// write: this OS has no such bits, and Go makes up 0666 for every file
// that is not read-only, which would make each backing file of a fake Unix
// host world-writable (user_writable) wherever the suite runs here.
func hostPerm(fi os.FileInfo) uint32 { return uint32(fi.Mode().Perm()) &^ 0o022 }
