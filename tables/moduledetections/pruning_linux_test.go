package moduledetections

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/test/sim"
)

// TestFieldsRenderedOnlyWhenRead: the rules match the whole event whatever
// the query reads, so the same rules fire, but the event's JSON is made
// only for a query that reads the fields column.
func TestFieldsRenderedOnlyWhenRead(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	lib := sim.BuildLib(t, filepath.Join(sim.ExecDirIn(t, "/tmp", "modhunt-det-"), "libfields.so"))
	p := sim.StartLoader(t, sim.LoaderOpts{Lib: lib})
	tb := shared(t)
	full, err := tb.Generate(context.Background(), pidQuery(p.PID))
	require.NoError(t, err)
	require.NotEmpty(t, full, "no rule fired on %s", lib)

	q := pidQuery(p.PID)
	q.Used = table.UsedColumns("rule_id", "path", "untrusted_reasons")
	pruned, err := tb.Generate(context.Background(), q)
	require.NoError(t, err)
	require.Len(t, pruned, len(full), "the same rules fire")
	for i := range full {
		assert.Equal(t, full[i][col("rule_id")], pruned[i][col("rule_id")])
		assert.Equal(t, full[i][col("untrusted_reasons")], pruned[i][col("untrusted_reasons")])
		assert.True(t, json.Valid([]byte(full[i][col("fields")])), "fields is the event's JSON when read")
		assert.Empty(t, pruned[i][col("fields")], "no JSON for a query that does not read fields")
	}
}
