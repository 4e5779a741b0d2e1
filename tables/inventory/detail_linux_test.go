package inventory

import (
	"context"
	"os/exec"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/test/sim"
)

// TestWalkDetailReadsOnlyWhatIsAsked walks a live sleep with each detail
// alone, counting the files read (a hook): each reads the maps plus its
// own file only, and fills exactly the fields a full walk fills, leaving
// the others zero. A fresh inventory per walk keeps the file-type cache
// from hiding a read.
func TestWalkDetailReadsOnlyWhatIsAsked(t *testing.T) {
	sim.NeedRoot(t)
	sleep, err := exec.LookPath("sleep")
	require.NoError(t, err)
	pid := sim.StartSleepers(t, 1)[0]
	sim.WaitSleeping(t, pid, sleep)

	walk := func(d Detail) (Process, []string) {
		t.Helper()
		var mu sync.Mutex
		var reads []string
		inv := New(Config{OnRead: func(p int, file string) {
			mu.Lock()
			defer mu.Unlock()
			if p == pid && !slices.Contains(reads, file) {
				reads = append(reads, file)
			}
		}})
		var got []Process
		require.NoError(t, inv.WalkDetail(context.Background(), []int{pid}, d, func(p *Process) error {
			got = append(got, p.Clone())
			return nil
		}))
		require.Len(t, got, 1)
		slices.Sort(reads)
		return got[0], reads
	}

	full, reads := walk(DetailAll)
	assert.Equal(t, []string{"cmdline", "exe", "maps", "module", "stat"}, reads)
	require.NotEmpty(t, full.Modules)
	require.NotEmpty(t, full.Name)
	require.NotEmpty(t, full.Path)
	require.NotEmpty(t, full.Cmdline)

	// What every walk reads: the maps, and the fields they give.
	bare, reads := walk(0)
	assert.Equal(t, []string{"maps"}, reads)
	assert.Equal(t, int64(-1), bare.UID, "no uid unless asked")
	assert.Zero(t, bare.User)
	assert.Zero(t, bare.Name)
	assert.Zero(t, bare.PPID)
	assert.Zero(t, bare.Path)
	assert.Zero(t, bare.Cmdline)
	require.Len(t, bare.Modules, len(full.Modules))
	for i, m := range bare.Modules {
		assert.Zero(t, m.FileType, m.Path)
		assert.False(t, m.Exe, m.Path)
		m.FileType, m.Exe = full.Modules[i].FileType, full.Modules[i].Exe
		assert.Equal(t, full.Modules[i], m, "every other module field comes from the maps")
	}

	p, reads := walk(DetailUser)
	assert.Equal(t, []string{"maps"}, reads, "the uid is the maps file's owner")
	assert.Equal(t, full.UID, p.UID)
	assert.Equal(t, full.User, p.User)
	require.GreaterOrEqual(t, p.UID, int64(0))

	p, reads = walk(DetailStat)
	assert.Equal(t, []string{"maps", "stat"}, reads)
	assert.Equal(t, full.Name, p.Name)
	assert.Equal(t, full.PPID, p.PPID)

	p, reads = walk(DetailCmdline)
	assert.Equal(t, []string{"cmdline", "maps"}, reads)
	assert.Equal(t, full.Cmdline, p.Cmdline)

	p, reads = walk(DetailExe)
	assert.Equal(t, []string{"exe", "maps"}, reads)
	assert.Equal(t, full.Path, p.Path)
	assert.Equal(t, full.PathDeleted, p.PathDeleted)
	require.Len(t, p.Modules, len(full.Modules))
	for i, m := range p.Modules {
		assert.Equal(t, full.Modules[i].Exe, m.Exe, m.Path)
	}

	p, reads = walk(DetailFileType)
	assert.Equal(t, []string{"maps", "module"}, reads)
	require.Len(t, p.Modules, len(full.Modules))
	for i, m := range p.Modules {
		m.Exe = full.Modules[i].Exe // DetailExe's
		assert.Equal(t, full.Modules[i], m)
	}
}
