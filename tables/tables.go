// Package tables lists every table modhunt has: their definitions (Specs),
// which docs, --spec and packs read, and their constructors, which only the
// hosts call (Build). See docs/ARCHITECTURE.md, "Add a table".
package tables

import (
	"fmt"
	"runtime"
	"slices"

	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/dotnetloads"
	"github.com/modhunt/modhunt/tables/loadedmodules"
	"github.com/modhunt/modhunt/tables/loadevents"
	"github.com/modhunt/modhunt/tables/moduledetections"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/tables/unbacked"
	"github.com/modhunt/modhunt/tables/untrusted"
)

// specs is every table's definition, in the order docs and hosts list
// them.
var specs = []*table.Spec{
	&loadedmodules.Spec,
	&untrusted.Spec,
	&moduledetections.Spec,
	&dotnetloads.Spec,
	&unbacked.Spec,
	&loadevents.Spec,
	&loadevents.StatusSpec,
}

// constructor builds the table of one name.
type constructor struct {
	name string
	new  func(deps.Deps) (*table.Table, error)
}

// constructors builds each table of specs. It is kept apart from specs so
// that a program that only reads definitions (packgen, docs) does not even
// link a constructor.
var constructors = []constructor{
	{loadedmodules.Name, loadedmodules.New},
	{untrusted.Name, untrusted.New},
	{moduledetections.Name, moduledetections.New},
	{dotnetloads.Name, dotnetloads.New},
	{unbacked.Name, unbacked.New},
	{loadevents.Name, loadevents.New},
	{loadevents.StatusName, loadevents.NewStatus},
}

// Specs returns every table's definition, whatever the platform. It is
// data: reading it builds nothing and reads nothing from the host.
func Specs() []table.Spec {
	out := make([]table.Spec, len(specs))
	for i, s := range specs {
		out[i] = *s
	}
	return out
}

// SpecsFor returns the definitions of the tables served on an OS (a GOOS).
func SpecsFor(goos string) []table.Spec {
	return slices.DeleteFunc(Specs(), func(s table.Spec) bool { return !slices.Contains(s.Platforms, goos) })
}

// Build builds the tables this OS serves, for a host. They share one
// inventory, so their scans share its caches, and one trust judge, whose
// verdicts untrusted_module_loads renders and module_detections reuses. An error names the setting that
// broke a table (a malformed policy file): a host must refuse to start
// rather than serve a table with a policy nobody wrote.
func Build(d deps.Deps) ([]*table.Table, error) {
	return build(runtime.GOOS, d)
}

// BuildFor builds the tables another OS serves, over d.Inventory (which
// must be that OS's, such as a recorded macOS inventory): for tests that run
// an OS's hunts on this one.
func BuildFor(goos string, d deps.Deps) ([]*table.Table, error) {
	if d.Inventory == nil || d.Inventory.Platform() != goos {
		return nil, fmt.Errorf("building %s tables needs a %s inventory", goos, goos)
	}
	return build(goos, d)
}

func build(goos string, d deps.Deps) ([]*table.Table, error) {
	mine := SpecsFor(goos)
	if len(mine) == 0 {
		return nil, nil
	}
	d.Log = d.Logger()
	d.Inventory = d.ModuleInventory()
	judges := slices.ContainsFunc(mine, func(s table.Spec) bool {
		return s.Name == untrusted.Name || s.Name == moduledetections.Name || s.Name == loadevents.Name
	})
	if d.Judge == nil && judges {
		// module_detections' events carry the verdicts of
		// untrusted_module_loads' judge, typed: both share one package
		// index and one file-facts cache, and a query reading both judges
		// the host once.
		j, err := untrusted.NewJudge(untrusted.Config{
			Log: d.Log, PolicyFile: d.Policy, Inventory: d.Inventory, HashBudget: d.HashBudget, HashTime: d.HashTime,
		})
		if err != nil {
			return nil, err
		}
		d.Judge = j
	}
	if err := buildLoadEvents(&d, mine); err != nil {
		return nil, err
	}
	out := make([]*table.Table, 0, len(mine))
	for _, s := range mine {
		i := slices.IndexFunc(constructors, func(c constructor) bool { return c.name == s.Name })
		if i < 0 {
			return nil, fmt.Errorf("table %s has no constructor", s.Name)
		}
		t, err := constructors[i].new(d)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}
