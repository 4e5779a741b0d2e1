package dotnetloads

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modhunt/modhunt/internal/pefacts"
	"github.com/modhunt/modhunt/tables/fileinfo"
	"github.com/modhunt/modhunt/tables/inventory"
	"github.com/modhunt/modhunt/tables/inventory/fakeinv"
	"github.com/modhunt/modhunt/tables/table"
	"github.com/modhunt/modhunt/test/sim"
)

// These tests run the table over fake Windows hosts (inventory/fakeinv)
// on every OS, not under Wine: Wine runs a managed program only through
// wine-mono, which Debian 12 does not package (a fresh prefix offers to
// download it), so no CLR host can exist under the test runner; and the
// Windows inventory (loader list, ReadProcessMemory) is not on this
// branch's main yet. The assemblies are real (compiled by mcs), so the
// identities are read from real metadata, as on Windows.

// winAssemblies compiles the assemblies the fake Windows hosts hold: the
// files' identities come from their metadata, as on Windows.
type winAssemblies struct {
	sma, build, payload string // paths of compiled assemblies
	payloadBytes        []byte
	payloadID           *pefacts.Assembly
}

var (
	winOnce sync.Once
	winDone winAssemblies
	winOK   bool
)

// compileWin compiles them once per run (mcs takes seconds).
func compileWin(t *testing.T) winAssemblies {
	t.Helper()
	sim.NeedTool(t, "mcs", "mono-mcs")
	winOnce.Do(func() {
		winDone = compileWinIn(t, filepath.Join(shared, "win"))
		winOK = true
	})
	if !winOK {
		t.Fatal("compiling the assemblies failed in an earlier test")
	}
	return winDone
}

func compileWinIn(t *testing.T, dir string) winAssemblies {
	require.NoError(t, os.MkdirAll(dir, 0o755))
	var w winAssemblies
	w.sma = compileCS(t, dir, "System.Management.Automation.dll", libSource("Sma", "3.0.0.0"))
	// Renamed on disk: the metadata still says Microsoft.Build.Tasks.v4.0.
	w.build = compileCS(t, dir, "Microsoft.Build.Tasks.v4.0.dll", libSource("Tasks", "4.0.0.0"))
	strongNameKey(t, dir+"/k.snk")
	w.payload = compileCS(t, dir, "Rubeus.dll", libSource("Rubeus", "1.6.4.0"), "-keyfile:k.snk")
	var err error
	w.payloadBytes, err = os.ReadFile(w.payload)
	require.NoError(t, err)
	f, err := os.Open(w.payload)
	require.NoError(t, err)
	defer f.Close()
	w.payloadID, err = pefacts.ReadAssembly(f, int64(len(w.payloadBytes)), pefacts.LayoutFile, pefacts.Limits{})
	require.NoError(t, err)
	return w
}

func winModule(path, name string, idx uint64) inventory.Module {
	return inventory.Module{Path: path, Name: name, Base: 0x7ff800000000 + idx<<20, Size: 0x10000, Executable: true,
		InLoaderList: true, File: fileinfo.Key{Dev: 0x5a3c1e2f, Ino: idx}, FileType: fileinfo.PE}
}

const (
	smaGAC   = `C:\Windows\Microsoft.NET\assembly\GAC_MSIL\System.Management.Automation\v4.0_3.0.0.0__31bf3856ad364e35\System.Management.Automation.dll`
	smaNGen  = `C:\Windows\assembly\NativeImages_v4.0.30319_64\System.Manaa57fc8cc#\4b1c\System.Management.Automation.ni.dll`
	renamed  = `C:\Users\Public\update.dll`
	heapBase = 0x1d0000
)

// windowsHosts is a fake Windows host: rundll32 hosting the CLR with the
// PowerShell engine from the GAC and its NGen image, a renamed MSBuild
// assembly and an assembly only in its heap (at no region boundary);
// notepad, native, whose heap holds the same bytes; a .NET 2 program.
func windowsHosts(w winAssemblies) *fakeinv.Inventory {
	heap := make([]byte, 0x20000)
	copy(heap[0x1234:], w.payloadBytes) // not at a region or page start
	const clrHost, native, clr2 = 0x1000100, 0x1000200, 0x1000300
	return &fakeinv.Inventory{
		OS: "windows",
		Procs: []inventory.Process{
			{PID: clrHost, Name: "rundll32.exe", Path: `C:\Windows\System32\rundll32.exe`, Cmdline: `rundll32.exe C:\Users\Public\x.dll,Run`, UID: -1,
				Modules: []inventory.Module{
					winModule(`C:\Windows\System32\rundll32.exe`, "rundll32.exe", 1),
					winModule(`C:\Windows\System32\mscoree.dll`, "mscoree.dll", 2),
					winModule(`C:\Windows\Microsoft.NET\Framework64\v4.0.30319\clr.dll`, "clr.dll", 3),
					winModule(smaGAC, "System.Management.Automation.dll", 4),
					winModule(smaNGen, "System.Management.Automation.ni.dll", 5),
					winModule(renamed, "update.dll", 6),
				}},
			{PID: native, Name: "notepad.exe", Path: `C:\Windows\System32\notepad.exe`, UID: -1,
				Modules: []inventory.Module{
					winModule(`C:\Windows\System32\notepad.exe`, "notepad.exe", 7),
					winModule(`C:\Windows\System32\kernel32.dll`, "kernel32.dll", 8),
				}},
			{PID: clr2, Name: "old.exe", Path: `C:\app\old.exe`, UID: -1,
				Modules: []inventory.Module{
					winModule(`C:\app\old.exe`, "old.exe", 9),
					winModule(`C:\Windows\Microsoft.NET\Framework64\v2.0.50727\mscorwks.dll`, "mscorwks.dll", 10),
				}},
		},
		Backing: map[string]string{smaGAC: w.sma, smaNGen: w.sma, renamed: w.build},
		Private: map[int][]inventory.Region{
			clrHost: {{Start: heapBase, Size: uint64(len(heap)), Prot: inventory.ProtRead | inventory.ProtWrite, Type: inventory.RegionPrivate}},
			native:  {{Start: heapBase, Size: uint64(len(heap)), Prot: inventory.ProtRead | inventory.ProtWrite, Type: inventory.RegionPrivate}},
		},
		Memory: map[int]map[uint64][]byte{clrHost: {heapBase: heap}, native: {heapBase: heap}},
	}
}

func TestWindowsHosts(t *testing.T) {
	w := compileWin(t)
	inv := windowsHosts(w)
	var mem memCounter
	s := &Scanner{Inventory: inv, OnMemory: mem.hook}
	rows, err := NewWith(s).Generate(context.Background(), table.Query{})
	require.NoError(t, err)
	got := rowMaps(rows)

	assert.Equal(t, []int{0x1000100, 0x1000300}, mem.opened(), "notepad's memory is never read")
	for _, r := range got {
		assert.NotEqual(t, table.Int(0x1000200), r["pid"], "no rows for a native process")
	}

	sma := byName(got, "System.Management.Automation")
	require.Len(t, sma, 2, "the GAC file and its NGen image: %v", got)
	for _, r := range sma {
		assert.Equal(t, RuntimeCLR4, r["runtime"])
		assert.Equal(t, "rundll32.exe", r["process_name"])
		switch r["path"] {
		case smaGAC:
			assert.Equal(t, "1", r["gac"])
			assert.Equal(t, "0", r["native_image"])
		case smaNGen:
			assert.Equal(t, "0", r["gac"])
			assert.Equal(t, "1", r["native_image"])
		default:
			t.Errorf("unexpected path %q", r["path"])
		}
		assert.Equal(t, "0", r["in_memory"])
	}
	b := byName(got, "Microsoft.Build.Tasks.v4.0")
	require.Len(t, b, 1, "identity from the metadata, not the file name update.dll")
	assert.Equal(t, renamed, b[0]["path"])

	p := byName(got, w.payloadID.Name)
	require.Len(t, p, 1, "the heap copy is found once")
	assert.Equal(t, "1", p[0]["in_memory"])
	assert.Empty(t, p[0]["path"])
	assert.Equal(t, w.payloadID.Version, p[0]["assembly_version"])
	assert.Equal(t, w.payloadID.PublicKeyToken, p[0]["public_key_token"])
	assert.Equal(t, w.payloadID.MVID, p[0]["mvid"])
	assert.Equal(t, "0x1d1234", p[0]["base_address"], "where the MZ header lies, not the region start")
	assert.Equal(t, table.Int(0x1000100), p[0]["pid"])
	for _, r := range got {
		if r["pid"] == table.Int(0x1000300) {
			t.Errorf(".NET 2 host has no assembly files in this fake: %v", r)
		}
	}

	// The identity of a file is a file fact: a second scan parses nothing
	// again (the cache holds one entry per assembly file).
	n := inv.Files().Len()
	_, err = NewWith(s).Generate(context.Background(), table.Query{})
	require.NoError(t, err)
	assert.Equal(t, n, inv.Files().Len())
	assert.GreaterOrEqual(t, n, 2)
}

// An assembly the process also maps from a file is not repeated as an
// in-memory one (dedupe by MVID).
func TestInMemoryCopyOfMappedFile(t *testing.T) {
	w := compileWin(t)
	inv := windowsHosts(w)
	inv.Procs[0].Modules = append(inv.Procs[0].Modules, winModule(`C:\Tools\Rubeus.dll`, "Rubeus.dll", 11))
	inv.Backing[`C:\Tools\Rubeus.dll`] = w.payload
	s := &Scanner{Inventory: inv}
	rows, err := NewWith(s).Generate(context.Background(), table.PIDQuery([]int{0x1000100}))
	require.NoError(t, err)
	p := byName(rowMaps(rows), w.payloadID.Name)
	require.Len(t, p, 1)
	assert.Equal(t, "0", p[0]["in_memory"])
	assert.Equal(t, `C:\Tools\Rubeus.dll`, p[0]["path"])
}

// The search stops at its bounds: regions, bytes per process, bytes per
// query, and says so in its Stats.
func TestSearchBounds(t *testing.T) {
	w := compileWin(t)
	inv := windowsHosts(w)
	// Five more regions before the heap, each 64 KiB.
	for i := range 5 {
		start := uint64(0x100000 + i*0x10000)
		inv.Private[0x1000100] = append(inv.Private[0x1000100], inventory.Region{Start: start, Size: 0x10000,
			Prot: inventory.ProtRead | inventory.ProtWrite, Type: inventory.RegionPrivate})
		inv.Memory[0x1000100][start] = make([]byte, 0x10000)
	}
	scan := func(l Limits) (Stats, bool) {
		s := &Scanner{Inventory: inv, Limits: l}
		found := false
		st, err := s.Scan(context.Background(), []int{0x1000100}, 0, true, func(_ *Host, l *Load) error {
			found = found || l.InMemory
			return nil
		})
		require.NoError(t, err)
		return st, found
	}
	st, found := scan(Limits{})
	assert.True(t, found)
	assert.Equal(t, 6, st.Regions)
	assert.Zero(t, st.Cut)
	assert.GreaterOrEqual(t, st.BytesRead, int64(5*0x10000+0x20000))

	st, found = scan(Limits{Regions: 3})
	assert.False(t, found, "the heap is the sixth region")
	assert.Equal(t, 3, st.Regions)
	assert.Equal(t, 1, st.Cut)

	st, found = scan(Limits{ProcessBytes: 0x30000})
	assert.False(t, found)
	assert.Equal(t, 1, st.Cut)
	assert.LessOrEqual(t, st.BytesRead, int64(0x30000+2*4096+16), "read at most the bound (and one chunk's look-behind)")

	st, found = scan(Limits{QueryBytes: 0x20000})
	assert.False(t, found)
	assert.LessOrEqual(t, st.BytesRead, int64(0x20000+2*4096+16))
}

// cutView is an inventory whose memory views are cut short at their
// limit, as the Windows inventory returns them: the regions read, with an
// error wrapping inventory.ErrViewTruncated.
type cutView struct{ *fakeinv.Inventory }

func (c cutView) Regions(ctx context.Context, pid int) ([]inventory.Region, error) {
	rs, err := c.Inventory.Regions(ctx, pid)
	if err != nil {
		return rs, err
	}
	return rs, fmt.Errorf("pid %d: %w", pid, inventory.ErrViewTruncated)
}

// A view cut short is searched as far as it goes (the heap copy below the
// cut is found) and counted as a cut search, not passed off as whole.
func TestTruncatedViewIsSearchedAndCut(t *testing.T) {
	w := compileWin(t)
	s := &Scanner{Inventory: cutView{windowsHosts(w)}}
	found := false
	st, err := s.Scan(context.Background(), []int{0x1000100}, 0, true, func(_ *Host, l *Load) error {
		found = found || l.InMemory
		return nil
	})
	require.NoError(t, err)
	assert.True(t, found, "the regions read are searched")
	assert.Equal(t, 1, st.Cut)
}
