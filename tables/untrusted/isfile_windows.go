package untrusted

import (
	"os"

	"github.com/modhunt/modhunt/tables/fileinfo"
	"github.com/modhunt/modhunt/tables/inventory"
)

// isFile reports whether f is the file k names: the volume serial number
// and 128-bit file id the inventory's StatModule gave when the module was
// judged. Windows has no handle to the very mapped file, so the path is
// opened again; a file put at that path since (the DLL renamed away and
// another copied in its place) has another id and is refused.
func isFile(f *os.File, k fileinfo.Key) bool {
	got, err := inventory.FileKey(f)
	return err == nil && k != (fileinfo.Key{}) && got == k
}
