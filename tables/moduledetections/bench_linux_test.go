package moduledetections

import (
	"context"
	"testing"
	"time"

	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/loadedmodules"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/test/sim"
)

// benchSleepers is how many extra sleeping processes the benchmark runs
// against, as process_loaded_modules' benchmarks do.
const benchSleepers = 300

var rowSink []table.Row

// BenchmarkVsLoadedModules is module_detections' full scan (trust verdicts,
// events, every built-in rule) with 300 extra sleeping processes. Each
// iteration also runs process_loaded_modules' full scan over the same
// inventory, untimed and interleaved so both see the same load on a shared
// machine; x_loaded_modules is the ratio of the two totals (target: <= 2).
func BenchmarkVsLoadedModules(b *testing.B) {
	sim.NeedRoot(b)
	sim.StartSleepers(b, benchSleepers)
	ctx := context.Background()
	// One inventory for both, as tables.Build builds them.
	inv := inventory.New(inventory.Config{ModulesOnly: true})
	base, err := loadedmodules.New(deps.Deps{Inventory: inv})
	if err != nil {
		b.Fatal(err)
	}
	tb, err := New(deps.Deps{Inventory: inv})
	if err != nil {
		b.Fatal(err)
	}
	scan := func(t *table.Table) []table.Row {
		rows, err := t.Generate(ctx, table.Query{})
		if err != nil {
			b.Fatal(err)
		}
		return rows
	}
	scan(tb) // builds the package index once, as the first query of a long-lived extension does
	var baseTime time.Duration
	baseRows := 0
	for b.Loop() {
		b.StopTimer()
		start := time.Now()
		baseRows = len(scan(base))
		baseTime += time.Since(start)
		b.StartTimer()
		rowSink = scan(tb)
	}
	b.ReportMetric(float64(b.Elapsed())/float64(baseTime), "x_loaded_modules")
	b.ReportMetric(float64(baseRows), "module_rows")
	b.ReportMetric(float64(len(rowSink)), "matches")
}
