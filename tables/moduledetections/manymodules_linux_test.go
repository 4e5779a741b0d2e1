package moduledetections

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/moduleevents"
	"github.com/modhunt/modhunt/test/sim"
)

// startManyModules starts a process mapping n files from /dev/shm (each
// a module load from a temp folder, so rules fire on every one) and
// returns it with the folder.
func startManyModules(t *testing.T, n int) (*sim.Proc, string) {
	t.Helper()
	dir := sim.TempDirIn(t, "/dev/shm", "modhunt-many-")
	sim.SparseFiles(t, dir, "m", n, 4096)
	return sim.StartMapper(t, dir), dir
}

// lastModuleRule fires on the process's first file only when the process
// also maps its last one: a rule keyed on the module set, whose answer
// lies far beyond what a row's fields list.
func lastModuleRule(t *testing.T, last string) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "set.yml"), []byte(`title: First Module With The Last One In The Same Process
id: 6b0f7d1e-2c55-4c1a-9a57-3f0d8e2b7c44
level: informational
logsource: {category: image_load, product: linux}
detection:
    sel:
        ImageLoaded|endswith: '/m00000.so'
        ProcessModules: '`+last+`'
    condition: sel
`), 0o644))
	return dir
}

// TestManyModulesRowsAreBounded: a process with 3,000 modules gets rows
// whose fields are bounded (the process-wide values cut to their share,
// here the floor RowValueMin, with the marker and the total), while the
// rules still match the whole module set.
func TestManyModulesRowsAreBounded(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	const n = 3000
	p, dir := startManyModules(t, n)
	last := fmt.Sprintf("m%05d.so", n-1)
	tb, err := New(deps.Deps{RuleDirs: []string{lastModuleRule(t, last)}})
	require.NoError(t, err)
	rows, err := tb.Generate(context.Background(), pidQuery(p.PID))
	require.NoError(t, err)

	procs, err := inventory.New(inventory.Config{}).Processes(context.Background(), []int{p.PID})
	require.NoError(t, err)
	require.Len(t, procs, 1)
	var names []string
	for _, m := range procs[0].Modules {
		if m.Executable && strings.HasPrefix(m.Path, "/") {
			names = append(names, m.Name)
		}
	}
	require.Greater(t, len(names), n)

	limit := moduleevents.RowLimit(len(rows))
	require.Equal(t, moduleevents.RowValueMin, limit, "%d rows share the process's values", len(rows))
	fired, temp := 0, 0
	for _, r := range rows {
		f := r[col("fields")]
		// The process-wide part is at most 5 x the limit; the rest is this
		// module's path, hash, reasons and flags.
		require.LessOrEqual(t, len(f), 5*limit+1024, "fields of %s", r[col("path")])
		if filepath.Dir(r[col("path")]) != dir {
			continue
		}
		var got struct {
			CommandLine         string
			ProcessModules      []string
			ProcessModulesTotal int
			Truncated           string
		}
		require.NoError(t, json.Unmarshal([]byte(f), &got))
		assert.Equal(t, len(names), got.ProcessModulesTotal)
		assert.Contains(t, strings.Split(got.Truncated, ","), "ProcessModules")
		assert.Contains(t, strings.Split(got.Truncated, ","), "CommandLine", "the mapper's command line is a script")
		assert.Equal(t, procs[0].Cmdline[:limit], got.CommandLine)
		require.NotEmpty(t, got.ProcessModules)
		assert.Equal(t, names[:len(got.ProcessModules)], got.ProcessModules, "the leading names, in order")
		switch ruleName(r) {
		case "set":
			fired++
			assert.Equal(t, filepath.Join(dir, "m00000.so"), r[col("path")])
		case "so_from_temp_dir":
			temp++
		}
	}
	assert.Equal(t, 1, fired, "a rule on the module set sees the whole set")
	assert.Equal(t, n, temp, "every module from /dev/shm is a finding")
}

// TestManyModulesMemoryIsLinear: what a module_detections scan allocates,
// and what its rows hold, grows with a process's module count, not with
// its square. Four times the modules may cost at most about four times
// as much (the bound allows 6x); before rows were bounded the rows alone
// grew 16x.
func TestManyModulesMemoryIsLinear(t *testing.T) {
	// Not parallel: the allocation counter is process-wide.
	sim.NeedRoot(t)
	small, _ := startManyModules(t, 1000)
	big, _ := startManyModules(t, 4000)
	tb, err := New(deps.Deps{})
	require.NoError(t, err)
	_, err = tb.Generate(context.Background(), pidQuery(small.PID)) // the package index, built once
	require.NoError(t, err)
	measure := func(pid int) (alloc, held uint64) {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		rows, err := tb.Generate(context.Background(), pidQuery(pid))
		runtime.ReadMemStats(&after)
		require.NoError(t, err)
		require.NotEmpty(t, rows)
		for _, r := range rows {
			require.Equal(t, strconv.Itoa(pid), r[col("pid")])
			for _, v := range r {
				held += uint64(len(v))
			}
		}
		return after.TotalAlloc - before.TotalAlloc, held
	}
	allocSmall, heldSmall := measure(small.PID)
	allocBig, heldBig := measure(big.PID)
	t.Logf("1,000 modules: %d KiB allocated, %d KiB in rows; 4,000: %d KiB, %d KiB", allocSmall>>10, heldSmall>>10, allocBig>>10, heldBig>>10)
	assert.Less(t, float64(heldBig)/float64(heldSmall), 6.0, "row bytes")
	assert.Less(t, float64(allocBig)/float64(allocSmall), 6.0, "allocated bytes")
}

// TestFewRowsKeepEverything: a process with a handful of rows shares the
// whole per-process budget between them, so nothing of an ordinary
// process is cut.
func TestFewRowsKeepEverything(t *testing.T) {
	t.Parallel()
	sim.NeedRoot(t)
	p, dir := startManyModules(t, 8)
	tb, err := New(deps.Deps{})
	require.NoError(t, err)
	rows, err := tb.Generate(context.Background(), pidQuery(p.PID))
	require.NoError(t, err)
	require.NotEmpty(t, rows)
	for _, r := range rows {
		var got map[string]any
		require.NoError(t, json.Unmarshal([]byte(r[col("fields")]), &got))
		assert.NotContains(t, got, moduleevents.TruncatedKey)
		assert.NotContains(t, got, moduleevents.ModulesTotalKey)
		assert.Contains(t, got["ProcessModules"], "m00007.so")
		assert.Contains(t, got["CommandLine"], dir, "the whole command line")
	}
}
