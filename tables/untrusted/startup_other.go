//go:build !linux

package untrusted

import (
	"context"

	"github.com/modhunt/modhunt/tables/elfdyn"
	"github.com/modhunt/modhunt/tables/inventory"
)

// startupOnly has nothing to weigh where the table does not run.
func (sc *scan) startupOnly(context.Context, *inventory.Process, *procRoot, loaderVars) map[fileKey]bool {
	return nil
}

// elfInfo reads no file where the table does not run.
func (sc *scan) elfInfo(int, *inventory.Module) *elfdyn.Info { return nil }
