package untrusted

import (
	"context"
	"testing"

	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/test/sim"
)

// BenchmarkScan compares a full untrusted_module_loads scan with the
// inventory walk it is built on (the same processes, read the same way),
// in the same run: the ratio is what the trust facts cost on top.
func BenchmarkScan(b *testing.B) {
	sim.NeedRoot(b)
	ctx := context.Background()
	inv := inventory.New(inventory.Config{})
	var walkNs float64
	b.Run("inventory_walk", func(b *testing.B) {
		for b.Loop() {
			if err := inv.Walk(ctx, nil, func(*inventory.Process) error { return nil }); err != nil {
				b.Fatal(err)
			}
		}
		walkNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	b.Run("untrusted_module_loads", func(b *testing.B) {
		tb, err := NewFromConfig(Config{Inventory: inv})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tb.Generate(ctx, table.Query{}); err != nil { // builds the package index once
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := tb.Generate(ctx, table.Query{}); err != nil {
				b.Fatal(err)
			}
		}
		if walkNs > 0 {
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/walkNs, "x-walk")
		}
	})
}
