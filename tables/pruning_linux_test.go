package tables_test

import (
	"context"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/extension/sqlhost"
	"github.com/modhunt/modhunt/tables"
	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/test/sim"
)

// project renders each row as the values of the columns q uses, sorted, so
// two scans compare as multisets of rows.
func project(tbl *table.Table, q table.Query, rows []table.Row) []string {
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		var b strings.Builder
		for i, c := range tbl.Columns {
			if q.Uses(c.Name) {
				b.WriteString(c.Name + "=" + strconv.Quote(r[i]) + " ")
			}
		}
		out = append(out, b.String())
	}
	slices.Sort(out)
	return out
}

// TestPrunedQueriesKeepTheirValues runs every table over live processes
// that really load untrusted modules (a dlopen from /tmp, the same library
// unlinked after loading, from a memfd, through python3's ctypes, through
// LD_PRELOAD, and one planted in /usr/lib whose only fault is that no
// package owns it), and a Mono host with an in-memory assembly, with random subsets of columns: a query that reads
// some columns must see exactly the values a query reading all of them
// sees in those columns, row for row, both from Generate and through the
// embedded SQL engine.
func TestPrunedQueriesKeepTheirValues(t *testing.T) {
	sim.NeedRoot(t)
	sim.NeedDpkg(t)
	dir := sim.ExecDirIn(t, "/tmp", "modhunt-prune")
	lib := sim.BuildLib(t, filepath.Join(dir, "libprune.so"))
	gone := sim.BuildLib(t, filepath.Join(dir, "libgone.so"))
	pre := sim.BuildLib(t, filepath.Join(dir, "libpre.so"))
	sleep, err := exec.LookPath("sleep")
	require.NoError(t, err)
	preloaded := sim.StartPreloaded(t, pre)
	sim.WaitSleeping(t, preloaded.PID, sleep)
	planted, _, _ := sim.StartPlantedLoader(t, "/usr/lib", "libmodhunt-prune-planted.so")
	pids := []int{
		planted.PID,
		sim.StartLoader(t, sim.LoaderOpts{Lib: lib}).PID,
		sim.StartLoader(t, sim.LoaderOpts{Lib: gone, Unlink: true}).PID,
		sim.StartLoader(t, sim.LoaderOpts{Lib: lib, Memfd: true}).PID,
		sim.StartPythonCtypes(t, lib).PID,
		preloaded.PID,
		sim.StartMonoHost(t).PID, // dotnet_assembly_loads' rows: a CLR host
	}

	all, err := tables.Build(deps.Deps{})
	require.NoError(t, err)
	db, err := sqlhost.Open(all, table.NewGuard(time.Minute, 0, nil), nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	var in []string
	for _, p := range pids {
		in = append(in, strconv.Itoa(p))
	}
	where := " WHERE pid IN (" + strings.Join(in, ", ") + ")"

	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed>>1))
	ctx := context.Background()
	pinned := table.PIDQuery(pids)
	for _, tbl := range all {
		if tbl.Evented || tbl.ColumnIndex("pid") < 0 {
			// Events of loads before the test started, or none: the
			// evented tables have their own live tests (tables/loadevents).
			continue
		}
		full, err := tbl.Generate(ctx, pinned)
		require.NoError(t, err, tbl.Name)
		require.NotEmpty(t, full, "%s has no rows for the live processes", tbl.Name)
		_, fullSQL, err := db.Query(ctx, "SELECT * FROM "+tbl.Name+where)
		require.NoError(t, err, tbl.Name)

		for range 12 {
			var names []string
			for _, c := range tbl.Columns {
				if rng.IntN(3) == 0 {
					names = append(names, c.Name)
				}
			}
			q := table.Query{Constraints: pinned.Constraints, Used: table.UsedColumns(names...)}
			got, err := tbl.Generate(ctx, q)
			require.NoError(t, err, "%s %v", tbl.Name, names)
			assert.Equal(t, project(tbl, q, full), project(tbl, q, got), "%s reading %v", tbl.Name, names)

			if len(names) == 0 {
				continue
			}
			cols, rows, err := db.Query(ctx, "SELECT "+strings.Join(names, ", ")+" FROM "+tbl.Name+where)
			require.NoError(t, err, "%s %v", tbl.Name, names)
			require.Equal(t, names, cols)
			var want [][]any
			for _, r := range fullSQL {
				var pick []any
				for _, n := range names {
					pick = append(pick, r[tbl.ColumnIndex(n)])
				}
				want = append(want, pick)
			}
			assert.ElementsMatch(t, want, rows, "%s through SQL reading %v", tbl.Name, names)
		}
	}
}
