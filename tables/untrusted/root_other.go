//go:build !linux

package untrusted

import (
	"os"

	"github.com/modhunt/modhunt/tables/inventory"
)

// procRoot is Linux's view of a process's root; elsewhere it cannot be
// opened, and the table is not registered.
type procRoot struct {
	fd  int
	key rootKey
}

func openRoot(string, int) (*procRoot, error) { return nil, inventory.ErrUnsupported }

func (r *procRoot) close() {}

func (r *procRoot) lstat(string) (inventory.FileInfo, error) {
	return inventory.FileInfo{}, inventory.ErrUnsupported
}

func (r *procRoot) stat(string) (inventory.FileInfo, error) {
	return inventory.FileInfo{}, inventory.ErrUnsupported
}

func (r *procRoot) openFile(string) (*os.File, error) { return nil, inventory.ErrUnsupported }

func (r *procRoot) pathBase() int { return -1 }

func ourRoot() int { return -1 }

func closeBase(int) {}

func statNamed(int, string) (inventory.Named, error) {
	return inventory.Named{}, inventory.ErrUnsupported
}

func statExe(string, int) (inventory.FileInfo, error) {
	return inventory.FileInfo{}, inventory.ErrUnsupported
}

func sameFile(inventory.Named, inventory.FileInfo) bool { return false }
