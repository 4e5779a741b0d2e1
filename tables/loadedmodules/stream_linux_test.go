package loadedmodules

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/test/sim"
)

// TestStreamGivesGenerateRows streams the rows of live processes batch by
// batch, copying each batch as a host that encodes it does (the table
// reuses the batch's storage for the next), and requires exactly the rows
// Generate returns, in order, for every shape of query.
func TestStreamGivesGenerateRows(t *testing.T) {
	sim.NeedRoot(t)
	pids := sim.StartSleepers(t, 3)
	tbl := mustNew(deps.Deps{})
	for _, used := range [][]string{nil, {"pid", "path"}, {"path", "file_type", "uid"}, {"process_name", "cmdline", "size"}, {}} {
		q := pidQuery(pids...)
		if used != nil {
			q.Used = table.UsedColumns(used...)
		}
		stream := func() (rows []table.Row, batches int) {
			require.NoError(t, tbl.Stream(context.Background(), q, func(batch []table.Row) error {
				batches++
				for _, r := range batch {
					rows = append(rows, append(table.Row(nil), r...))
				}
				return nil
			}))
			return rows, batches
		}
		// A sleeper that just started may still be mapping its locale:
		// compare when Generate gives the same rows before and after.
		var want, got []table.Row
		batches := 0
		for range 100 {
			before, err := tbl.Generate(context.Background(), q)
			require.NoError(t, err)
			got, batches = stream()
			after, err := tbl.Generate(context.Background(), q)
			require.NoError(t, err)
			if want = after; assert.ObjectsAreEqual(before, after) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		require.NotEmpty(t, want)
		assert.Equal(t, want, got, "columns %v", used)
		assert.Equal(t, len(pids), batches, "one batch per process (columns %v)", used)
	}
}
