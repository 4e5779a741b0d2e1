package sqlhost

import (
	"context"
	"testing"
	"time"

	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/loadedmodules"
	"github.com/modhunt/modhunt/tables/table"
)

// BenchmarkHostOverheadLoadedModules is BenchmarkHostOverhead with a real
// table over this host's processes: x_direct near 1 means the engine is not
// what a hunt waits for.
func BenchmarkHostOverheadLoadedModules(b *testing.B) {
	tbl, err := loadedmodules.New(deps.Deps{})
	if err != nil {
		b.Fatal(err)
	}
	guard := table.NewGuard(time.Minute, 0, nil)
	db, err := Open([]*table.Table{tbl}, guard, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	ctx := context.Background()
	var direct, host time.Duration
	var n int
	for b.Loop() {
		t0 := time.Now()
		rows, err := guard.Generate(ctx, tbl, table.Query{})
		if err != nil && len(rows) == 0 {
			b.Fatal(err)
		}
		t1 := time.Now()
		_, got, err := db.Query(ctx, "SELECT * FROM process_loaded_modules")
		if err != nil {
			b.Fatal(err)
		}
		direct += t1.Sub(t0)
		host += time.Since(t1)
		n += len(got)
	}
	b.ReportMetric(float64(host)/float64(direct), "x_direct")
	b.ReportMetric(float64(n)/float64(b.N), "rows/op")
}
