package untrusted

import (
	"context"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/test/sim"
)

// bigModule is just under the default size cap, as in the attack: every
// file is worth hashing by the cap's rule.
const bigModule = 127 * mib

// TestLiveHashingBudget is the hashing denial of service: one process maps
// 160 files of 127 MiB (20 GiB, sparse on tmpfs so it costs neither disk
// nor memory, but hashing it still reads every byte), and another process
// loads a library from /tmp. Hashing all of it would take far longer than
// the table's deadline. The scan must answer in time with both processes
// judged: the victim with its reasons and sha256, the mapper with a row
// for every file, those past the budget with sha256_skipped=budget.
func TestLiveHashingBudget(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	dir := sim.TempDirIn(t, "/dev/shm", "modhunt-hashdos-")
	files := sim.SparseFiles(t, dir, "big", 160, bigModule)
	mapper := sim.StartMapper(t, dir)
	lib := sim.BuildLib(t, filepath.Join(sim.ExecDirIn(t, "/tmp", "modhunt-untrusted-"), "libvictim.so"))
	victim := sim.StartLoader(t, sim.LoaderOpts{Lib: lib})

	// Two of the mapper's files, and room for the small modules hashed in
	// earlier rounds (the victim's library; python3's own C extensions
	// when it is not the system's).
	// The byte budget is under test, not the clock: the time budget and
	// the deadline are generous, so a loaded host cannot make the scan
	// hash fewer files (hashing all 20 GiB would still take longer).
	const budget = 2*bigModule + 64*mib
	tb := newTable(t, Config{HashBudget: budget, HashTime: time.Minute})
	guard := table.NewGuard(2*time.Minute, 1, nil)
	rows, err := guard.Generate(context.Background(), tb, pidQuery(mapper.PID, victim.PID))
	require.NoError(t, err, "the scan answers within its deadline")

	var victimRows, mapperRows []table.Row
	for _, r := range rows {
		switch r[col("pid")] {
		case strconv.Itoa(victim.PID):
			victimRows = append(victimRows, r)
		case strconv.Itoa(mapper.PID):
			if filepath.Dir(r[col("path")]) == dir {
				mapperRows = append(mapperRows, r)
			}
		}
	}
	require.Len(t, victimRows, 1, summary(victimRows))
	assert.Equal(t, "outside_trusted_dirs,temp_dir", victimRows[0][col("reasons")])
	assert.Equal(t, sim.SHA256File(t, lib), victimRows[0][col("sha256")], "the other process is hashed first")

	require.Len(t, mapperRows, len(files), "every mapped file is judged")
	hashed, skipped := 0, 0
	zero := zeroSum(t, bigModule)
	for _, r := range mapperRows {
		assert.Equal(t, "outside_trusted_dirs,temp_dir", r[col("reasons")])
		switch {
		case r[col("sha256")] != "":
			hashed++
			assert.Equal(t, zero, r[col("sha256")])
			assert.Empty(t, r[col("sha256_skipped")])
		default:
			skipped++
			assert.Equal(t, skipBudget, r[col("sha256_skipped")])
		}
	}
	assert.Equal(t, 2, hashed, "the budget covers two of the mapper's files")
	assert.Equal(t, len(files)-2, skipped)
}

// TestLiveHashingBudgetCarriesOver: files hashed by one scan are cached, so
// the next scan spends its budget on the ones still missing and, scan by
// scan, every row gets its sha256.
func TestLiveHashingBudgetCarriesOver(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	dir := sim.TempDirIn(t, "/dev/shm", "modhunt-hashdos-")
	sim.SparseFiles(t, dir, "big", 6, 8*mib)
	mapper := sim.StartMapper(t, dir)
	tb := newTable(t, Config{HashBudget: 2*8*mib + 8*mib/2})
	for scan, want := range []int{2, 4, 6, 6} {
		rows := rowsOf(t, tb, mapper.PID)
		hashed := 0
		for _, r := range rows {
			if filepath.Dir(r[col("path")]) == dir && r[col("sha256")] != "" {
				hashed++
			}
		}
		assert.Equal(t, want, hashed, "scan %d", scan+1)
	}
}

// stallingSource is the inventory, but once stall is set the walk stalls
// after the first process until the scan's deadline, as on a host whose
// /proc reads hang.
type stallingSource struct {
	Source
	stall *atomic.Bool
}

func (s stallingSource) Walk(ctx context.Context, pids []int, fn func(*inventory.Process) error) error {
	return s.Source.Walk(ctx, pids, func(p *inventory.Process) error {
		if err := fn(p); err != nil || !s.stall.Load() {
			return err
		}
		<-ctx.Done()
		return ctx.Err()
	})
}

// TestLiveDeadlineKeepsJudgedRows: a scan cut short by its deadline still
// answers, through the guard, with the rows it judged before it stopped,
// and says it timed out.
func TestLiveDeadlineKeepsJudgedRows(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	lib := sim.BuildLib(t, filepath.Join(sim.ExecDirIn(t, "/tmp", "modhunt-untrusted-"), "libjudged.so"))
	p := sim.StartLoader(t, sim.LoaderOpts{Lib: lib})
	stall := &atomic.Bool{}
	tb := newTable(t, Config{Inventory: stallingSource{inventory.New(inventory.Config{ModulesOnly: true}), stall}})
	// The first scan builds the package index, which may take longer than
	// the deadline below on a loaded machine.
	waitRow(t, tb, p.PID, lib)
	stall.Store(true)
	rows, err := table.NewGuard(2*time.Second, 1, nil).Generate(context.Background(), tb, pidQuery(p.PID))
	require.ErrorIs(t, err, table.ErrTimeout)
	require.Len(t, rows, 1, summary(rows))
	assert.Equal(t, lib, rows[0][col("path")])
	assert.Equal(t, "outside_trusted_dirs,temp_dir", rows[0][col("reasons")])
	// The hashing pass had no time left, but the first scan hashed the
	// file: a cached sum costs nothing and is filled in while judging.
	assert.Equal(t, sim.SHA256File(t, lib), rows[0][col("sha256")])
}
