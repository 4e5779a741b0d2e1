//go:build !unix

package fakeinv

import (
	"os"

	"github.com/modhunt/modhunt/tables/inventory"
)

// fullInfo is a host stat as the inventory reports it: the type bits and
// permissions only, where there is no st_mode.
func fullInfo(fi os.FileInfo) inventory.FileInfo {
	mode := uint32(fi.Mode().Perm())
	switch {
	case fi.Mode().IsRegular():
		mode |= 0o100000
	case fi.IsDir():
		mode |= 0o040000
	}
	return inventory.FileInfo{Mode: mode, Size: fi.Size(), ModTime: fi.ModTime(), Nlink: 1}
}
