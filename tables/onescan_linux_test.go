package tables_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables"
	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/tables/untrusted"
	"github.com/modhunt/modhunt/test/sim"
)

// counter counts calls per pid.
type counter struct {
	mu sync.Mutex
	n  map[int]int
}

func (c *counter) add(pid int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[int]int{}
	}
	c.n[pid]++
}

func (c *counter) get(pid int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[pid]
}

// TestUntrustedAndDetectionsJudgeFromOneScan: a query that reads
// untrusted_module_loads and module_detections together (a host generates
// one table after the other) reads each process once and judges it once:
// counted on the inventory's reads and on the judgement itself. The same
// table queried again scans anew.
func TestUntrustedAndDetectionsJudgeFromOneScan(t *testing.T) {
	sim.NeedRoot(t)
	lib := sim.BuildLib(t, filepath.Join(sim.ExecDirIn(t, "/tmp", "modhunt-onescan"), "libonescan.so"))
	p := sim.StartLoader(t, sim.LoaderOpts{Lib: lib})

	var reads, judged counter
	inv := inventory.New(inventory.Config{ModulesOnly: true, OnProcess: reads.add})
	judge, err := untrusted.NewJudge(untrusted.Config{Inventory: inv, OnJudge: judged.add})
	require.NoError(t, err)
	all, err := tables.Build(deps.Deps{Inventory: inv, Judge: judge})
	require.NoError(t, err)
	byName := map[string]*table.Table{}
	for _, tbl := range all {
		byName[tbl.Name] = tbl
	}
	ut, md := byName["untrusted_module_loads"], byName["module_detections"]
	q := table.PIDQuery([]int{p.PID})

	rows, err := ut.Generate(context.Background(), q)
	require.NoError(t, err)
	require.Len(t, rows, 1)
	assert.Equal(t, "outside_trusted_dirs,temp_dir", rows[0][ut.ColumnIndex("reasons")])
	drows, err := md.Generate(context.Background(), q)
	require.NoError(t, err)
	fired := 0
	for _, r := range drows {
		if r[md.ColumnIndex("path")] == lib {
			fired++
			assert.Equal(t, "outside_trusted_dirs,temp_dir", r[md.ColumnIndex("untrusted_reasons")])
		}
	}
	assert.Positive(t, fired, "a rule fires on the planted library")
	assert.Equal(t, 1, judged.get(p.PID), "one judgement of the process for both tables")
	assert.Equal(t, 1, reads.get(p.PID), "one read of the process for both tables")

	// The same table again is a new query: a new scan.
	_, err = ut.Generate(context.Background(), q)
	require.NoError(t, err)
	assert.Equal(t, 2, judged.get(p.PID))
	assert.Equal(t, 2, reads.get(p.PID))
}
