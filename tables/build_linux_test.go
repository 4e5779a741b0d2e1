package tables_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables"
	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/test/sim"
)

// TestBuiltTablesShareTrustVerdicts plants a library in a temp directory and
// reads it through the tables as a host serves them: both must give the
// same reasons for the same load. (That module_detections consults the
// registered table itself is not visible here; moduleevents'
// TestSharedUntrustedTableIsTheOneConsulted proves the mechanism.)
func TestBuiltTablesShareTrustVerdicts(t *testing.T) {
	sim.NeedRoot(t)
	lib := sim.BuildLib(t, filepath.Join(sim.ExecDirIn(t, "/tmp", "modhunt-catalog"), "libcatalog.so"))
	p := sim.StartLoader(t, sim.LoaderOpts{Lib: lib})

	all, err := tables.Build(deps.Deps{})
	require.NoError(t, err)
	byName := map[string]*table.Table{}
	for _, tbl := range all {
		byName[tbl.Name] = tbl
	}
	q := table.PIDQuery([]int{p.PID})
	cell := func(tbl *table.Table, row table.Row, col string) string { return row[tbl.ColumnIndex(col)] }

	ut := byName["untrusted_module_loads"]
	require.NotNil(t, ut)
	rows, err := ut.Generate(context.Background(), q)
	require.NoError(t, err)
	require.Len(t, rows, 1, "the planted library is the loader's only untrusted module")
	assert.Equal(t, lib, cell(ut, rows[0], "path"))
	assert.Equal(t, "outside_trusted_dirs,temp_dir", cell(ut, rows[0], "reasons"))

	md := byName["module_detections"]
	require.NotNil(t, md)
	rows, err = md.Generate(context.Background(), q)
	require.NoError(t, err)
	var fired []string
	for _, r := range rows {
		if cell(md, r, "path") == lib {
			fired = append(fired, cell(md, r, "rule_title"))
			assert.Equal(t, "outside_trusted_dirs,temp_dir", cell(md, r, "untrusted_reasons"), "both tables give the same verdict")
		}
	}
	assert.NotEmpty(t, fired, "no rule fired on %s", lib)
}
