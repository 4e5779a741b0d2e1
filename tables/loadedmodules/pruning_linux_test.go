package loadedmodules

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/test/sim"
)

// TestReadsOnlyWhatTheColumnsNeed counts the files the table reads of a
// live process per query (a hook): pid and path come from the maps alone,
// and each process column costs only its own file.
func TestReadsOnlyWhatTheColumnsNeed(t *testing.T) {
	sim.NeedRoot(t)
	pid := sim.StartSleepers(t, 1)[0]
	for _, tc := range []struct {
		used  []string
		reads []string
	}{
		{[]string{"path"}, []string{"maps"}},
		{[]string{"path", "name", "base_address", "size", "permissions", "inode", "device", "deleted", "memfd", "executable", "uid"}, []string{"maps"}},
		{[]string{"parent"}, []string{"maps", "stat"}},
		{[]string{"process_name"}, []string{"maps", "stat"}},
		{[]string{"cmdline"}, []string{"cmdline", "maps"}},
		{[]string{"process_path"}, []string{"exe", "maps"}},
		{[]string{"file_type"}, []string{"maps", "module"}},
		{nil, []string{"cmdline", "exe", "maps", "module", "stat"}},
	} {
		var mu sync.Mutex
		var reads []string
		inv := inventory.New(inventory.Config{ModulesOnly: true, OnRead: func(p int, file string) {
			mu.Lock()
			defer mu.Unlock()
			if p == pid && !slices.Contains(reads, file) {
				reads = append(reads, file)
			}
		}})
		q := pidQuery(pid)
		if tc.used != nil {
			q.Used = table.UsedColumns(tc.used...)
		}
		rows, err := mustNew(deps.Deps{Inventory: inv}).Generate(context.Background(), q)
		require.NoError(t, err)
		require.NotEmpty(t, rows)
		slices.Sort(reads)
		assert.Equal(t, tc.reads, reads, "reading %v", tc.used)
	}
}

func TestPrunedRowsFormatOnlyUsedNumbers(t *testing.T) {
	t.Parallel()
	p := &inventory.Process{PID: 7, PPID: 1, UID: 1000, Modules: []inventory.Module{
		{Path: "/usr/lib/libc.so.6", Name: "libc.so.6", Base: 0x7f00, Size: 4096, Linux: inventory.LinuxMapping{Inode: 12, Perms: "r-xp"}},
	}}
	used := make([]bool, len(Columns))
	used[colPID], used[colPath], used[colSize] = true, true, true
	rows := appendRows(nil, p, used)
	require.Len(t, rows, 1)
	r := rows[0]
	require.Len(t, r, len(Columns))
	assert.Equal(t, "7", r[colPID])
	assert.Equal(t, "/usr/lib/libc.so.6", r[colPath])
	assert.Equal(t, "4096", r[colSize])
	assert.Empty(t, r[colBase])
	assert.Empty(t, r[colInode])
	assert.Empty(t, r[colParent])
	assert.Empty(t, r[colUID])
	assert.Equal(t, AppendRows(nil, p)[0][colSize], r[colSize])
}
