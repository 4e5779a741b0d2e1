package inventory

import (
	"strings"
	"testing"

	"github.com/modhunt/modhunt/internal/winproc"
)

// TestWindowsModulesFromLoaderListAndMemoryView: the Windows inventory's
// modules are the loader list's (with its long paths, past MAX_PATH), plus
// every image mapping at a base the list has no module at; tested here on
// every OS with what winproc would read.
func TestWindowsModulesFromLoaderListAndMemoryView(t *testing.T) {
	long := `C:\Users\alice\AppData\Local\Temp\` + strings.Repeat(`deep\`, 60) + "long.dll" // 350 characters
	const exe, dll, longBase, hand, nodrive, cut = 0x140000000, 0x7ff800000000, 0x7ff810000000, 0x2a0000, 0x3a0000, 0x7ff820000000
	const rx, rw, ro = 0x20, 0x04, 0x02 // PAGE_EXECUTE_READ, PAGE_READWRITE, PAGE_READONLY
	loader := []winproc.Module{
		{Base: exe, Size: 0x6000, Path: `C:\app\app.exe`, Name: "app.exe"},
		{Base: dll, Size: 0x2000, Path: `C:\Windows\System32\KERNEL32.DLL`, Name: "KERNEL32.DLL"},
		// GetModuleFileNameExW's full path; the kernel gave the mapping
		// no name (Wine past MAX_PATH).
		{Base: longBase, Size: 0x2000, Path: long, Name: "long.dll"},
		// Toolhelp's field, cut at MAX_PATH, without a handle to read more.
		{Base: cut, Size: 0x1000, Path: long[:259], PathTruncated: true},
	}
	regions := []winproc.Region{
		{Base: exe, Size: 0x1000, AllocationBase: exe, Type: winproc.MemImage, Protect: ro, Path: `C:\app\app.exe`},
		{Base: exe + 0x1000, Size: 0x5000, AllocationBase: exe, Type: winproc.MemImage, Protect: rx},
		{Base: dll, Size: 0x2000, AllocationBase: dll, Type: winproc.MemImage, Protect: rx, Path: `C:\Windows\System32\kernel32.dll`},
		{Base: longBase, Size: 0x2000, AllocationBase: longBase, Type: winproc.MemImage, Protect: rx},
		// Mapped by hand (SEC_IMAGE), never executable here.
		{Base: hand, Size: 0x1000, AllocationBase: hand, Type: winproc.MemImage, Protect: ro, NTPath: `\Device\HarddiskVolume3\Temp\x.dll`, Path: `C:\Temp\x.dll`},
		{Base: hand + 0x1000, Size: 0x1000, AllocationBase: hand, Type: winproc.MemImage, Protect: rw},
		// An image on a volume no drive letter links to: its NT path.
		{Base: nodrive, Size: 0x3000, AllocationBase: nodrive, Type: winproc.MemImage, Protect: rx, NTPath: `\Device\HarddiskVolumeShadowCopy2\y.dll`},
		// Data views and private memory are no modules.
		{Base: 0x500000, Size: 0x1000, AllocationBase: 0x500000, Type: winproc.MemMapped, Protect: ro, Path: `C:\data.bin`},
		{Base: 0x600000, Size: 0x1000, AllocationBase: 0x600000, Type: winproc.MemPrivate, Protect: rw},
	}
	mods := appendModules(nil, loader, regions)
	want := []Module{
		{Path: `C:\app\app.exe`, Name: "app.exe", Base: exe, Size: 0x6000, InLoaderList: true, Executable: true},
		{Path: `C:\Windows\System32\KERNEL32.DLL`, Name: "KERNEL32.DLL", Base: dll, Size: 0x2000, InLoaderList: true, Executable: true},
		{Path: long, Name: "long.dll", Base: longBase, Size: 0x2000, InLoaderList: true, Executable: true},
		// Not in the memory view (the walk hit its limit): assumed
		// executable, as the loader maps images.
		{Path: long[:259], Name: long[:259][strings.LastIndexByte(long[:259], '\\')+1:], Base: cut, Size: 0x1000, InLoaderList: true, Executable: true, PathTruncated: true},
		{Path: `C:\Temp\x.dll`, Name: "x.dll", Base: hand, Size: 0x2000, InLoaderList: false, Executable: false},
		{Path: `\Device\HarddiskVolumeShadowCopy2\y.dll`, Name: "y.dll", Base: nodrive, Size: 0x3000, InLoaderList: false, Executable: true},
	}
	if len(mods) != len(want) {
		t.Fatalf("%d modules, want %d: %+v", len(mods), len(want), mods)
	}
	for i := range want {
		if mods[i] != want[i] {
			t.Errorf("module %d:\n got %+v\nwant %+v", i, mods[i], want[i])
		}
	}
	if len(mods[2].Path) <= 260 {
		t.Fatalf("test path of %d characters is not past MAX_PATH", len(mods[2].Path))
	}
}

func TestWindowsRegionShape(t *testing.T) {
	for _, c := range []struct {
		in   winproc.Region
		want Region
	}{
		{winproc.Region{Base: 0x1000, Size: 0x2000, AllocationBase: 0x1000, Type: winproc.MemImage, Protect: 0x20, NTPath: `\??\C:\x.dll`, Path: `C:\x.dll`},
			Region{Start: 0x1000, Size: 0x2000, Prot: ProtRead | ProtExec, Type: RegionImage, Path: `C:\x.dll`}},
		{winproc.Region{Base: 0x5000, Size: 0x1000, Type: winproc.MemMapped, Protect: 0x04, NTPath: `\Device\Mup\srv\share\d.bin`, Path: `\\srv\share\d.bin`},
			Region{Start: 0x5000, Size: 0x1000, Prot: ProtRead | ProtWrite, Type: RegionMapped, Path: `\\srv\share\d.bin`}},
		// A device no drive links to keeps its NT path.
		{winproc.Region{Base: 0x6000, Size: 0x1000, Type: winproc.MemMapped, Protect: 0x02, NTPath: `\Device\HarddiskVolume9\d.bin`},
			Region{Start: 0x6000, Size: 0x1000, Prot: ProtRead, Type: RegionMapped, Path: `\Device\HarddiskVolume9\d.bin`}},
		// A pagefile-backed section is shared memory, no file.
		{winproc.Region{Base: 0x7000, Size: 0x1000, Type: winproc.MemMapped, Protect: 0x04},
			Region{Start: 0x7000, Size: 0x1000, Prot: ProtRead | ProtWrite, Type: RegionAnonymous}},
		{winproc.Region{Base: 0x8000, Size: 0x1000, Type: winproc.MemPrivate, Protect: 0x40},
			Region{Start: 0x8000, Size: 0x1000, Prot: ProtRead | ProtWrite | ProtExec, Type: RegionPrivate}},
		// Reserved: no access.
		{winproc.Region{Base: 0x9000, Size: 0x1000, Type: winproc.MemPrivate, State: winproc.MemReserve},
			Region{Start: 0x9000, Size: 0x1000, Type: RegionPrivate}},
	} {
		if got := regionOf(c.in); got != c.want {
			t.Errorf("regionOf(%+v)\n got %+v\nwant %+v", c.in, got, c.want)
		}
	}
}

func TestPlainFilePath(t *testing.T) {
	for path, want := range map[string]bool{
		`C:\Windows\System32\kernel32.dll`: true,
		`c:/temp/x.dll`:                    true,
		`\\server\share\x.dll`:             true,
		`\\?\C:\Temp\x.dll`:                true,
		`\\?\UNC\server\share\x.dll`:       true,
		`C:\PROGRA~1\x.dll`:                true, // a short name is a file; compare after LongPath
		`\\.\pipe\evil`:                    false,
		`\\.\GLOBALROOT\Device\x`:          false,
		`\\?\GLOBALROOT\Device\x`:          false,
		`\Device\HarddiskVolume3\x.dll`:    false,
		`C:\Temp\log.txt:payload.dll`:      false,
		`x.dll`:                            false,
		``:                                 false,
	} {
		if got := plainFilePath(path); got != want {
			t.Errorf("plainFilePath(%q) = %v, want %v", path, got, want)
		}
	}
}
