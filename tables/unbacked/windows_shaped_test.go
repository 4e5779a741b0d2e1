package unbacked_test

import (
	"context"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/tables/deps"
	"github.com/modhunt/modhunt/tables/fileinfo"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/inventory/fakeinv"
	"github.com/modhunt/modhunt/tables/moduledetections"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/tables/unbacked"
)

// Pids far above any pid_max, as fakeinv's.
const (
	pidExplorer = 1<<24 + 1
	pidRundll   = 1<<24 + 2
	pidWer      = 1<<24 + 3
	pidVictim   = 1<<24 + 4
	pidClone    = 1<<24 + 5
	pidPwsh     = 1<<24 + 6
)

func page(t testing.TB, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	out := make([]byte, unbacked.DefaultPageBytes)
	copy(out, b)
	return out
}

func filled(c byte) []byte {
	b := make([]byte, unbacked.DefaultPageBytes)
	for i := range b {
		b[i] = c ^ byte(i)
	}
	return b
}

func winMod(path, name string, idx uint64) inventory.Module {
	return inventory.Module{Path: path, Name: name, Base: 0x7ff800000000 + idx<<20, Size: 0x10000, Executable: true,
		InLoaderList: true, File: fileinfo.Key{Dev: 0x5a3c1e2f, Ino: idx}, FileType: fileinfo.PE}
}

func winProc(pid, ppid int, path, cmdline string, mods ...inventory.Module) inventory.Process {
	name := path[len(`C:\Windows\System32\`):]
	if i := len(path) - 1; i > 0 {
		for j := i; j >= 0; j-- {
			if path[j] == '\\' {
				name = path[j+1:]
				break
			}
		}
	}
	exe := winMod(path, name, uint64(pid)&0xff)
	exe.Exe = true
	return inventory.Process{PID: pid, PPID: ppid, Name: name, Path: path, Cmdline: cmdline, UID: -1, User: `DESKTOP-7\alice`,
		Modules: append([]inventory.Module{exe, winMod(`C:\Windows\System32\ntdll.dll`, "ntdll.dll", 90)}, mods...)}
}

const (
	rwx = inventory.ProtRead | inventory.ProtWrite | inventory.ProtExec
	rx  = inventory.ProtRead | inventory.ProtExec
	rw  = inventory.ProtRead | inventory.ProtWrite
)

// windowsHost is a Windows-shaped host: an argument-less rundll32 with
// WinINet holding a PE in RWX private memory (Cobalt Strike), a WerFault
// with the CLR and unbacked r-x memory (Havoc powerpick), a reflection clone
// sharing its parent's RWX region (Dirty Vanity), and pwsh (a JIT host).
func windowsHost(t testing.TB) *fakeinv.Inventory {
	pe := page(t, "../../internal/pefacts/testdata/imports.dll")
	asm := page(t, "../../internal/pefacts/testdata/assembly.dll")
	shell := filled(0x90)
	return &fakeinv.Inventory{
		OS: "windows",
		Procs: []inventory.Process{
			winProc(pidExplorer, 0, `C:\Windows\explorer.exe`, `C:\Windows\Explorer.EXE`),
			winProc(pidRundll, pidExplorer, `C:\Windows\System32\rundll32.exe`, `rundll32.exe`,
				winMod(`C:\Windows\System32\wininet.dll`, "wininet.dll", 91)),
			winProc(pidWer, pidExplorer, `C:\Windows\System32\WerFault.exe`, `C:\Windows\System32\WerFault.exe`,
				winMod(`C:\Windows\Microsoft.NET\Framework64\v4.0.30319\clr.dll`, "clr.dll", 92)),
			winProc(pidVictim, pidExplorer, `C:\Windows\System32\notepad.exe`, `notepad.exe`),
			winProc(pidClone, pidVictim, `C:\Windows\System32\NOTEPAD.EXE`, `notepad.exe`),
			winProc(pidPwsh, pidExplorer, `C:\Program Files\PowerShell\7\pwsh.exe`, `pwsh.exe`),
		},
		Private: map[int][]inventory.Region{
			pidRundll: {
				{Start: 0x1f0000, Size: 0x42000, Prot: rwx, Type: inventory.RegionPrivate},
				{Start: 0x2f0000, Size: 0x1000, Prot: rwx, Type: inventory.RegionPrivate},
				{Start: 0x300000, Size: 0x2000, Prot: rx, Type: inventory.RegionMapped, Path: `C:\Users\Public\data.bin`},
				{Start: 0x400000, Size: 0x10000, Prot: rw, Type: inventory.RegionPrivate},
				{Start: 0x500000, Size: 0x1000, Prot: rx, Type: inventory.RegionPrivate},
			},
			pidWer:    {{Start: 0x7ff6a0000000, Size: 0x10000, Prot: rx, Type: inventory.RegionPrivate}},
			pidVictim: {{Start: 0x2b0000, Size: 0x1000, Prot: rwx, Type: inventory.RegionPrivate}},
			pidClone: {
				{Start: 0x2b0000, Size: 0x1000, Prot: rwx, Type: inventory.RegionPrivate},
				{Start: 0x2c0000, Size: 0x1000, Prot: rwx, Type: inventory.RegionPrivate},
			},
			pidPwsh: {{Start: 0x10000000, Size: 0x1000, Prot: rwx, Type: inventory.RegionPrivate}},
		},
		Memory: map[int]map[uint64][]byte{
			// 0x500000 has no contents: it reads as EIO.
			pidRundll: {0x1f0000: pe, 0x2f0000: shell, 0x300000: asm, 0x400000: pe},
			pidWer:    {0x7ff6a0000000: shell},
			pidVictim: {0x2b0000: shell},
			pidClone:  {0x2b0000: shell, 0x2c0000: filled(0xcc)},
			pidPwsh:   {0x10000000: shell},
		},
	}
}

type row map[string]string

func rowsOf(t testing.TB, tb *table.Table, q table.Query) map[string]row {
	t.Helper()
	rows, err := tb.Generate(context.Background(), q)
	require.NoError(t, err)
	out := map[string]row{}
	for _, r := range rows {
		m := row{}
		for i, c := range tb.Columns {
			m[c.Name] = r[i]
		}
		out[m["pid"]+"@"+m["address"]] = m
	}
	return out
}

func key(pid int, addr string) string { return strconv.Itoa(pid) + "@" + addr }

// TestWindowsShapedRows: on a Windows-shaped inventory, MEM_PRIVATE and
// MEM_MAPPED executable regions are rows (private, mapped-non-image) and
// images and non-executable memory are not; a PE copied into RWX memory
// reads header pe, a .NET assembly is_dotnet; an unreadable region keeps
// its row without a header; pwsh is a JIT host; the clone of notepad is
// clone_of_parent and shares exactly the region its parent holds.
func TestWindowsShapedRows(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	reads := map[int]int{}
	s, err := unbacked.NewScanner(unbacked.Config{Inventory: windowsHost(t), OnRead: func(pid int, _ uint64) {
		mu.Lock()
		reads[pid]++
		mu.Unlock()
	}})
	require.NoError(t, err)
	tb := unbacked.NewTable(s)
	rows := rowsOf(t, tb, table.Query{})
	assert.Len(t, rows, 9, "rundll32 4, WerFault 1, notepad 1, its clone 2, pwsh 1")

	r := rows[key(pidRundll, "0x1f0000")]
	require.NotNil(t, r)
	assert.Equal(t, map[string]string{"region_type": "private", "protection": "rwx", "header": "pe", "is_dotnet": "0", "size": "270336",
		"process_name": "rundll32.exe", "cmdline": "rundll32.exe", "parent": strconv.Itoa(pidExplorer), "jit_host": "0", "clone_of_parent": "0"},
		pick(r, "region_type", "protection", "header", "is_dotnet", "size", "process_name", "cmdline", "parent", "jit_host", "clone_of_parent"))
	assert.Len(t, r["sha256"], 64)
	assert.Equal(t, "none", rows[key(pidRundll, "0x2f0000")]["header"])
	m := rows[key(pidRundll, "0x300000")]
	assert.Equal(t, []string{"mapped-non-image", "r-x", "pe", "1", `C:\Users\Public\data.bin`}, []string{m["region_type"], m["protection"], m["header"], m["is_dotnet"], m["path"]})
	assert.NotContains(t, rows, key(pidRundll, "0x400000"), "not executable")
	u := rows[key(pidRundll, "0x500000")]
	require.NotNil(t, u, "an unreadable region is still a row")
	assert.Empty(t, u["header"])
	assert.Empty(t, u["sha256"])
	for k, r := range rows {
		assert.NotEqual(t, "0x7ff8", r["address"][:min(6, len(r["address"]))], "%s: an image is not a row", k)
	}
	assert.Equal(t, "1", rows[key(pidPwsh, "0x10000000")]["jit_host"])
	assert.Equal(t, "0", rows[key(pidWer, "0x7ff6a0000000")]["jit_host"])

	c := rows[key(pidClone, "0x2b0000")]
	assert.Equal(t, "1", c["clone_of_parent"], "same image (case aside) and command line as its parent")
	assert.Equal(t, "1", c["shared_with_parent"])
	assert.Equal(t, "0", rows[key(pidClone, "0x2c0000")]["shared_with_parent"], "only in the clone")
	assert.Equal(t, "0", rows[key(pidVictim, "0x2b0000")]["clone_of_parent"])

	mu.Lock()
	assert.Equal(t, 4, reads[pidRundll], "executable regions only: not the RW one")
	mu.Unlock()

	// Pinned to the clone: the parent is read for the shared check.
	pinned := rowsOf(t, tb, table.PIDQuery([]int{pidClone}))
	assert.Len(t, pinned, 2)
	assert.Equal(t, "1", pinned[key(pidClone, "0x2b0000")]["shared_with_parent"])
}

func pick(r row, names ...string) map[string]string {
	out := map[string]string{}
	for _, n := range names {
		out[n] = r[n]
	}
	return out
}

// TestWindowsShapedDetections: module_detections over the same host runs
// the region rules on region events carrying the process's modules: the
// Cobalt Strike, Havoc and Dirty Vanity region rules fire on their
// processes, and no region rule fires on pwsh's JIT memory.
func TestWindowsShapedDetections(t *testing.T) {
	t.Parallel()
	tb, err := moduledetections.New(deps.Deps{Inventory: windowsHost(t)})
	require.NoError(t, err)
	rows, err := tb.Generate(context.Background(), table.Query{})
	require.NoError(t, err)
	col := func(name string) int {
		for i, c := range tb.Columns {
			if c.Name == name {
				return i
			}
		}
		t.Fatalf("no column %s", name)
		return -1
	}
	fired := map[string][]string{}
	for _, r := range rows {
		fired[r[col("rule_title")]] = append(fired[r[col("rule_title")]], r[col("pid")])
	}
	assert.Equal(t, []string{strconv.Itoa(pidRundll)}, fired["Argument-less Rundll32 With An HTTP Stack And A PE Image In RWX Private Memory"], "%v", fired)
	assert.Equal(t, []string{strconv.Itoa(pidWer)}, fired["WerFault With The .NET Runtime And Unbacked Executable Memory"])
	assert.Equal(t, []string{strconv.Itoa(pidClone)}, fired["Process Reflection Clone Sharing An RWX Region With Its Parent (Dirty Vanity)"])
	for title, pids := range fired {
		assert.NotContains(t, pids, strconv.Itoa(pidPwsh), title)
	}
}
