package loadedmodules

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/table"
)

func TestAppendRows(t *testing.T) {
	t.Parallel()
	p := &inventory.Process{
		PID: 4242, PPID: 1, Name: "evil", Path: "/tmp/evil", Cmdline: "/tmp/evil -x", UID: 1000, User: "mallory",
		Modules: []inventory.Module{
			{Path: "/tmp/evil", Name: "evil", Base: 0x55d9c8553000, Size: 0x5000, InLoaderList: true,
				Executable: true, FileType: inventory.FileELF, Linux: inventory.LinuxMapping{Perms: "r-xp", Inode: 247026, Device: "fe:00"}},
			{Path: "/memfd:x", Name: "memfd:x", Base: 0x7f0000002000, Size: 4096,
				Deleted: true, Memfd: true, Executable: true, FileType: inventory.FileELF, Linux: inventory.LinuxMapping{Perms: "r-xp", Inode: 2049, Device: "00:01"}},
		},
	}
	rows := AppendRows([]table.Row{{"already", "here"}}, p)
	require.Len(t, rows, 3)
	assert.Equal(t, table.Row{"already", "here"}, rows[0])
	assert.Equal(t, table.Row{"4242", "evil", "/tmp/evil", "/tmp/evil -x", "1", "1000", "/tmp/evil", "evil",
		"0x55d9c8553000", "20480", "r-xp", "247026", "fe:00", "0", "0", "1", "elf",
		"mallory", "", "", "1", "", "", "", "", "", "", "", "", "", ""}, rows[1])
	assert.Equal(t, table.Row{"4242", "evil", "/tmp/evil", "/tmp/evil -x", "1", "1000", "/memfd:x", "memfd:x",
		"0x7f0000002000", "4096", "r-xp", "2049", "00:01", "1", "1", "1", "elf",
		"mallory", "", "", "0", "", "", "", "", "", "", "", "", "", ""}, rows[2])

	p.UID = -1
	p.Modules = p.Modules[:1]
	rows = AppendRows(nil, p)
	assert.Empty(t, rows[0][5], "unknown uid is NULL")

	// A Windows process: its token's integrity level and session.
	p.Windows = inventory.WindowsProcess{Integrity: "medium", Session: 2}
	rows = AppendRows(nil, p)
	assert.Equal(t, []string{"medium", "2"}, []string(rows[0][colIntegrity:colSession+1]))
	p.Modules = nil
	assert.Empty(t, AppendRows(nil, p), "a process without modules has no rows")
}
