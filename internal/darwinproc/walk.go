package darwinproc

import (
	"errors"
	"fmt"
	"time"
)

// Limits bound one process's region walk. osquery's process_memory_map stops
// at 512 regions; a browser or an Electron app has thousands, and the module
// that matters may be mapped late, so the default count bound is far above
// any process seen in practice and the time bound is what protects the
// watchdog.
type Limits struct {
	// MaxRegions is the most regions returned (DefaultMaxRegions when 0).
	MaxRegions int
	// Budget is the wall-clock time one walk may take (DefaultBudget when 0).
	Budget time.Duration
}

// Defaults for Limits.
const (
	DefaultMaxRegions = 1 << 16
	DefaultBudget     = 2 * time.Second
)

func (l Limits) norm() Limits {
	if l.MaxRegions <= 0 {
		l.MaxRegions = DefaultMaxRegions
	}
	if l.Budget <= 0 {
		l.Budget = DefaultBudget
	}
	return l
}

// Walk is the result of walking one process's address space.
type Walk struct {
	Regions []Region
	// Truncated says why the walk stopped early ("" when it reached the end
	// of the address space): "max_regions", "budget", or "error" (Err set).
	Truncated string
	// Err is the error that stopped the walk after at least one region.
	Err error
}

// fetchFunc returns the region containing addr, or the next region above it,
// or errEndOfMap. It is proc_pidinfo(pid, PROC_PIDREGIONPATHINFO, addr) on
// darwin and a recorded region list in tests.
type fetchFunc func(addr uint64) (Region, error)

// walk iterates addr = region end until fetch reports the end of the map, the
// limits are hit, or the walk would not advance (a region ending at or below
// the address asked for: a kernel bug or a hostile recording, never a loop).
// A failure on the first call is returned as the error (nothing was seen),
// and so is an end of the map there (ErrNoRegions: an empty walk must not
// read as a process with no modules); a later failure keeps what was seen
// and records it in Walk.Err.
func walk(fetch fetchFunc, lim Limits, now func() time.Time) (Walk, error) {
	lim = lim.norm()
	deadline := now().Add(lim.Budget)
	var w Walk
	var addr uint64
	for {
		if len(w.Regions) >= lim.MaxRegions {
			w.Truncated = "max_regions"
			return w, nil
		}
		if len(w.Regions) > 0 && now().After(deadline) {
			w.Truncated = "budget"
			return w, nil
		}
		r, err := fetch(addr)
		if errors.Is(err, errEndOfMap) {
			if len(w.Regions) == 0 {
				return w, ErrNoRegions
			}
			return w, nil
		}
		if err != nil {
			if len(w.Regions) == 0 {
				return w, err
			}
			w.Truncated, w.Err = "error", err
			return w, nil
		}
		if r.End() <= addr || r.Size == 0 {
			w.Truncated = "error"
			w.Err = fmt.Errorf("region walk did not advance at %#x (region %#x+%#x)", addr, r.Address, r.Size)
			return w, nil
		}
		w.Regions = append(w.Regions, r)
		if r.End() == ^uint64(0) {
			return w, nil
		}
		addr = r.End()
	}
}
