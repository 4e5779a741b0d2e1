package moduledetections

import (
	"github.com/modhunt/modhunt/detections"
	"github.com/modhunt/modhunt/internal/platform"
	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/moduleevents"
	"github.com/modhunt/modhunt/tables/unbacked"
)

// regionEvents is the memory-region event source (package unbacked) when
// a loaded rule for inv's platform reads a region field; otherwise none,
// since region events cost a second read of every process's memory map
// and reads of process memory that no rule would look at.
func regionEvents(d deps.Deps, inv inventory.Source, engine *detections.Engine) ([]moduleevents.More, error) {
	plat, ok := platform.Parse(inv.Platform())
	if !ok || !engine.ReadsAny(plat, unbacked.RegionFields...) {
		return nil, nil
	}
	s, err := unbacked.NewScanner(unbacked.Config{Inventory: inv, Policy: d.Policy, Log: d.Logger()})
	if err != nil {
		return nil, err
	}
	return []moduleevents.More{unbacked.NewEvents(s)}, nil
}
