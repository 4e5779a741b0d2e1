package loadedmodules

import (
	"context"
	"testing"

	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/inventory/fakeinv"
	"github.com/modhunt/modhunt/tables/table"
)

// BenchmarkPEColumns: what reading the PE columns of a Windows-shaped host
// costs once the file-facts cache holds them (each query still stats each
// PE to check its identity), against the same query without them
// (x-base), measured in the same run.
func BenchmarkPEColumns(b *testing.B) {
	src := windowsHost(b)
	tbl := mustNew(deps.Deps{Inventory: src})
	run := func(b *testing.B, used ...string) {
		q := table.PIDQuery([]int{fakeinv.PID})
		q.Used = table.UsedColumns(used...)
		for b.Loop() {
			if _, err := tbl.Generate(context.Background(), q); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("x-base", func(b *testing.B) { run(b, "pid", "path", "in_loader_list") })
	b.Run("pe", func(b *testing.B) { run(b, "pid", "path", "original_file_name", "imphash") })
}
