package moduledetections

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/test/sim"
)

// BenchmarkManyModules is one module_detections scan of a process mapping
// 2,000, 5,000 or 20,000 modules (files from /dev/shm: two rows each), with
// allocations: alloc_bytes_per_module (everything the scan allocated) and
// row_bytes_per_module (what its rows hold) must stay flat as the module
// count grows, i.e. memory grows linearly; when every row repeated every
// module name they grew with the count. The scan is pid-pinned so the rest
// of the host does not blur the per-module figures.
func BenchmarkManyModules(b *testing.B) {
	sim.NeedRoot(b)
	sim.NeedPython(b)
	tb, err := New(deps.Deps{})
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{2000, 5000, 20000} {
		dir := sim.TempDirIn(b, "/dev/shm", "modhunt-bench-many-")
		sim.SparseFiles(b, dir, "m", n, 4096)
		p := sim.StartMapper(b, dir)
		q := table.PIDQuery([]int{p.PID})
		// The package index is built by the first scan, once per table.
		if _, err := tb.Generate(context.Background(), q); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("modules=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			var rows []table.Row
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for b.Loop() {
				if rows, err = tb.Generate(context.Background(), q); err != nil {
					b.Fatal(err)
				}
			}
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/float64(n), "alloc_bytes_per_module")
			held := 0
			for _, r := range rows {
				for _, v := range r {
					held += len(v)
				}
			}
			b.ReportMetric(float64(len(rows)), "rows")
			b.ReportMetric(float64(held)/float64(n), "row_bytes_per_module")
		})
		_ = p.Cmd.Process.Kill()
	}
}
