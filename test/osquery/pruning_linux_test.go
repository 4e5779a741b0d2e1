package osquery_test

import (
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/test/osquery/osqueryd"
	"github.com/modhunt/modhunt/test/sim"
)

// TestPrunedRowsOverOsquery asks the deployed binary for a few columns of
// every table, as osqueryd does for a statement that reads only those: the
// rows carry exactly those keys (the pid constraint's column among them),
// with the values a request for every column gets.
func TestPrunedRowsOverOsquery(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	lib := sim.BuildLib(t, filepath.Join(sim.ExecDirIn(t, "/tmp", "modhunt-e2e-prune"), "libe2eprune.so"))
	p := sim.StartLoader(t, sim.LoaderOpts{Lib: lib})
	mgr := startManager(t)
	_, reg := running(t, mgr)
	pinned := map[string][]osqueryd.Constraint{"pid": osqueryd.In(strconv.Itoa(p.PID))}

	for tbl, used := range map[string][]string{
		loadedModules:            {"path", "file_type"},
		"untrusted_module_loads": {"path", "reasons"},
		"module_detections":      {"rule_id", "path"},
	} {
		cols, err := reg.Columns(tbl)
		require.NoError(t, err)
		full, err := mgr.Generate(t.Context(), reg.UUID, tbl, osqueryd.QueryContext{Columns: cols, Constraints: pinned})
		require.NoError(t, err)
		require.Equal(t, int32(0), full.Status.Code, full.Status.Message)
		require.NotEmpty(t, full.Response, "%s has no rows for the loader", tbl)
		pruned, err := mgr.Generate(t.Context(), reg.UUID, tbl, osqueryd.QueryContext{Columns: cols, Constraints: pinned, Used: used})
		require.NoError(t, err)
		require.Equal(t, int32(0), pruned.Status.Code, pruned.Status.Message)

		keys := append([]string{"pid"}, used...)
		slices.Sort(keys)
		project := func(rows []map[string]string) []string {
			var out []string
			for _, r := range rows {
				var b strings.Builder
				for _, k := range keys {
					b.WriteString(k + "=" + strconv.Quote(r[k]) + " ")
				}
				out = append(out, b.String())
			}
			slices.Sort(out)
			return out
		}
		for _, r := range pruned.Response {
			assert.Equal(t, keys, slices.Sorted(maps.Keys(r)), "%s: a row carries only the columns read", tbl)
		}
		assert.Equal(t, project(full.Response), project(pruned.Response), tbl)
	}
}
