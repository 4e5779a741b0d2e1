package dotnetloads

import (
	"context"
	"testing"
	"time"

	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/loadedmodules"
	"github.com/modhunt/modhunt/tables/table"
)

// benchAgainstLoadedModules times the table over pids, which host no CLR,
// back to back with the cheapest scan of process_loaded_modules (pid and
// path) over the same processes, and fails if the table read any of their
// memory: x-loaded-modules is the ratio of the total times.
func benchAgainstLoadedModules(b *testing.B, inv inventory.Source, pids []int) {
	lm, err := loadedmodules.New(deps.Deps{Inventory: inv})
	if err != nil {
		b.Fatal(err)
	}
	var mem memCounter
	dn := NewWith(&Scanner{Inventory: inv, OnMemory: mem.hook})
	ctx := context.Background()
	base := table.Query{Constraints: table.PIDQuery(pids).Constraints, Used: table.UsedColumns("pid", "path")}
	all := table.PIDQuery(pids)
	var tBase, tTable time.Duration
	for b.Loop() {
		t0 := time.Now()
		rows, err := lm.Generate(ctx, base)
		t1 := time.Now()
		if err != nil || len(rows) == 0 {
			b.Fatalf("process_loaded_modules: %d rows, %v", len(rows), err)
		}
		rows, err = dn.Generate(ctx, all)
		tTable += time.Since(t1)
		tBase += t1.Sub(t0)
		if err != nil || len(rows) != 0 {
			b.Fatalf("dotnet_assembly_loads: %d rows, %v", len(rows), err)
		}
	}
	if n := len(mem.opened()); n != 0 {
		b.Fatalf("memory of %d non-CLR processes read", n)
	}
	b.ReportMetric(float64(tTable)/float64(tBase), "x-loaded-modules")
	b.ReportMetric(float64(tTable.Microseconds())/float64(b.N), "table-us/op")
	b.ReportMetric(float64(tBase.Microseconds())/float64(b.N), "baseline-us/op")
}
