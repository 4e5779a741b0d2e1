package dotnetloads

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/loadedmodules"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/test/wine/winfix"
)

// BenchmarkNoCLRHostWindows: the Windows form of BenchmarkNoCLRHost, under
// Wine: over native processes only (loadlib.exe, pinned by pid), the table
// against the cheapest scan of process_loaded_modules (pid and path) over
// the same processes, timed back to back in each iteration: x-loaded-modules
// is the ratio of their total times (target <= 1.2). Both read each
// process's loader list and memory view; the table reads nothing more.
func BenchmarkNoCLRHostWindows(b *testing.B) {
	dir := winfix.Dir(b)
	tmp := b.TempDir()
	var pids []int
	for i := range 4 {
		dll := filepath.Join(tmp, "payload"+strconv.Itoa(i)+".dll")
		winfix.CopyFile(b, filepath.Join(dir, "payload.dll"), dll)
		pid, _ := winfix.Start(b, filepath.Join(dir, "loadlib.exe"), "loaded", dll)
		pids = append(pids, int(pid))
	}
	inv := inventory.New(inventory.Config{})
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
