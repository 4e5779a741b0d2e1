package fakeinv

import (
	"os"

	"github.com/modhunt/modhunt/tables/fileinfo"
	"github.com/modhunt/modhunt/tables/inventory"
)

// fileKey is the backing file's identity as the Windows inventory gives
// it (volume serial number, 128-bit file id), so a caller that checks the
// file it opened against the stated one (untrusted's hashing pass) accepts
// the backing file, as it accepts a real module; zero when it cannot be
// opened.
func fileKey(path string, _ os.FileInfo) fileinfo.Key {
	f, err := os.Open(path)
	if err != nil {
		return fileinfo.Key{}
	}
	defer f.Close()
	k, err := inventory.FileKey(f)
	if err != nil {
		return fileinfo.Key{}
	}
	return k
}
