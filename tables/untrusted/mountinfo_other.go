//go:build !linux

package untrusted

import (
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/mounts"
)

// readMountInfo has no mountinfo to read on this OS.
func (s *scanner) readMountInfo(int) ([]mounts.Mount, error) { return nil, inventory.ErrUnsupported }
