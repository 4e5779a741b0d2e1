package sqlhost

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/modhunt/modhunt/tables/table"
)

// benchTable builds its rows on every call, as a real table does, with a
// column of each type modhunt's tables use most.
func benchTable(n int) *table.Table {
	return &table.Table{
		Spec: table.Spec{
			Name:        "bench",
			Description: "bench",
			Examples:    []string{"SELECT * FROM bench"},
			Columns: []table.Column{
				{Name: "pid", Type: table.BigInt, Description: "pid", Index: true},
				{Name: "path", Type: table.Text, Description: "path"},
				{Name: "start", Type: table.BigInt, Description: "start"},
				{Name: "inode", Type: table.BigInt, Description: "inode"},
				{Name: "perms", Type: table.Text, Description: "perms"},
			},
		},
		Generate: func(ctx context.Context, q table.Query) ([]table.Row, error) {
			rows := make([]table.Row, n)
			for i := range rows {
				rows[i] = table.Row{
					strconv.Itoa(1000 + i/50), "/usr/lib/x86_64-linux-gnu/libc.so.6",
					strconv.FormatUint(0x7f0000000000+uint64(i)*4096, 10), strconv.Itoa(131000 + i), "r-xp",
				}
			}
			return rows, nil
		},
	}
}

// BenchmarkHostOverhead times, in the same loop, a table's generate called
// through the guard directly and `SELECT *` of the same table through the
// engine (rows fully read into Go values). x_direct is the ratio of the
// two; overhead_ns/row is what the engine adds per row.
func BenchmarkHostOverhead(b *testing.B) {
	for _, n := range []int{100, 10000} {
		b.Run("rows="+strconv.Itoa(n), func(b *testing.B) {
			tbl := benchTable(n)
			guard := table.NewGuard(time.Minute, 0, nil)
			db, err := Open([]*table.Table{tbl}, guard, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = db.Close() })
			ctx := context.Background()
			var direct, host time.Duration
			for b.Loop() {
				t0 := time.Now()
				rows, err := guard.Generate(ctx, tbl, table.Query{})
				if err != nil || len(rows) != n {
					b.Fatalf("direct: %d rows, %v", len(rows), err)
				}
				t1 := time.Now()
				_, got, err := db.Query(ctx, "SELECT * FROM bench")
				if err != nil || len(got) != n {
					b.Fatalf("host: %d rows, %v", len(got), err)
				}
				direct += t1.Sub(t0)
				host += time.Since(t1)
			}
			b.ReportMetric(float64(host)/float64(direct), "x_direct")
			b.ReportMetric(float64(host-direct)/float64(b.N)/float64(n), "overhead_ns/row")
		})
	}
}
