//go:build !unix && !windows

package fakeinv

import (
	"os"

	"github.com/modhunt/modhunt/tables/fileinfo"
)

// fileKey: this OS gives no file identity.
func fileKey(string, os.FileInfo) fileinfo.Key { return fileinfo.Key{} }
