package unbacked

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/inventory/fakeinv"
	"github.com/modhunt/modhunt/tables/table"
)

// hangingMemory is process memory whose reads at hang never return until
// release closes (a FUSE file's page that its daemon never serves).
type hangingMemory struct {
	inventory.Memory
	hang    uint64
	release chan struct{}
}

func (m hangingMemory) ReadAt(p []byte, off int64) (int, error) {
	if uint64(off) == m.hang {
		<-m.release
		return 0, io.ErrUnexpectedEOF
	}
	return m.Memory.ReadAt(p, off)
}

type hangingInventory struct {
	*fakeinv.Inventory
	hang    uint64
	release chan struct{}
}

func (h hangingInventory) OpenMemory(pid int) (inventory.Memory, error) {
	m, err := h.Inventory.OpenMemory(pid)
	if err != nil {
		return nil, err
	}
	return hangingMemory{Memory: m, hang: h.hang, release: h.release}, nil
}

// TestHangingReadIsLeftBehind: a read of process memory that never returns
// costs the scan ReadTimeout, not the query: the region keeps its row
// without a header, later regions are not read, the rows before it keep
// theirs, and once MaxStuckReads reads hang, scans read no memory at all
// until they return.
func TestHangingReadIsLeftBehind(t *testing.T) {
	t.Parallel()
	const pid = fakeinv.PID
	page := make([]byte, DefaultPageBytes)
	copy(page, "\x7fELF\x02\x01\x01")
	rwx := inventory.ProtRead | inventory.ProtWrite | inventory.ProtExec
	fake := &fakeinv.Inventory{
		OS:    "linux",
		Procs: []inventory.Process{{PID: pid, Name: "victim", Path: "/usr/bin/victim", UID: 0}},
		Private: map[int][]inventory.Region{pid: {
			{Start: 0x10000, Size: 0x1000, Prot: rwx, Type: inventory.RegionPrivate},
			{Start: 0x20000, Size: 0x1000, Prot: rwx, Type: inventory.RegionPrivate},
			{Start: 0x30000, Size: 0x1000, Prot: rwx, Type: inventory.RegionPrivate},
		}},
		Memory: map[int]map[uint64][]byte{pid: {0x10000: page, 0x20000: page, 0x30000: page}},
	}
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	s, err := NewScanner(Config{Inventory: hangingInventory{Inventory: fake, hang: 0x20000, release: release}})
	require.NoError(t, err)
	s.readTimeout = 50 * time.Millisecond

	start := time.Now()
	rows, err := s.generate(context.Background(), table.Query{})
	require.NoError(t, err)
	assert.Less(t, time.Since(start), 10*time.Second, "the scan did not wait for the read")
	require.Len(t, rows, 3)
	hdr := func(r table.Row) string { return r[10] }
	require.Equal(t, "header", Columns[10].Name)
	assert.Equal(t, "elf", hdr(rows[0]))
	assert.Empty(t, hdr(rows[1]), "the hanging read")
	assert.Empty(t, hdr(rows[2]), "no read after a hang")
	assert.EqualValues(t, 1, s.stuck.Load())

	for range MaxStuckReads - 1 {
		_, err = s.generate(context.Background(), table.PIDQuery([]int{pid}))
		require.NoError(t, err)
	}
	assert.EqualValues(t, MaxStuckReads, s.stuck.Load())
	before := s.reads.Load()
	rows, err = s.generate(context.Background(), table.Query{})
	require.NoError(t, err)
	assert.Empty(t, hdr(rows[0]), "no read while MaxStuckReads hang")
	assert.Equal(t, before+1, s.reads.Load(), "only counted: the read was not started")
}
