package inventory

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/test/sim"
)

// Without map_files the file type is read through the module's name in the
// process's root. A process can put something else under that name; the
// inventory must check it before opening it for reading, since opening a
// device or FIFO as root acts on it. The FIFO here has a writer blocked in
// open: any read-open by the inventory would let it through.
func TestFileTypeByPathNeverOpensANonRegularFile(t *testing.T) {
	procRoot := t.TempDir()
	pidDir := filepath.Join(procRoot, "500")
	require.NoError(t, os.MkdirAll(filepath.Join(pidDir, "root"), 0o755))
	fifo := filepath.Join(pidDir, "root", "x.so")
	sim.FIFO(t, fifo)
	var st syscall.Stat_t
	require.NoError(t, syscall.Stat(fifo, &st))
	maps := fmt.Sprintf("7f0000010000-7f0000020000 r-xp 00000000 fe:00 %d                         /x.so\n", st.Ino)
	for name, data := range map[string]string{
		"stat":    "500 (victim) S 1 500 500 0 -1 0\n",
		"maps":    maps,
		"cmdline": "victim\x00",
	} {
		require.NoError(t, os.WriteFile(filepath.Join(pidDir, name), []byte(data), 0o644))
	}

	stillBlocked := sim.BlockedWriter(t, fifo, "x")

	inv := New(Config{ProcRoot: procRoot})
	procs, err := inv.Processes(context.Background(), []int{500})
	require.NoError(t, err)
	require.Len(t, procs, 1)
	require.Len(t, procs[0].Modules, 1)
	assert.Equal(t, FileUnknown, procs[0].Modules[0].FileType)
	assert.True(t, stillBlocked(), "the inventory opened the FIFO for reading")
}
