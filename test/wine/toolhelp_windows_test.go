//go:build windows

package wine

import (
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/modhunt/modhunt/test/wine/winfix"
)

// TestToolhelpAndMemoryViewSeeDLLLoadedFromTemp is the ground issue 11 stands
// on: another process's LoadLibrary of a DLL from a temp folder is visible to
// this process both in a Toolhelp module snapshot and in a VirtualQueryEx walk
// of its address space, as the same image at the same base, with a file name
// that resolves to the same path. Under Wine this runs for real, in CI.
func TestToolhelpAndMemoryViewSeeDLLLoadedFromTemp(t *testing.T) {
	dir := winfix.Dir(t)
	dll := filepath.Join(t.TempDir(), "modhunt_payload.dll")
	winfix.CopyFile(t, filepath.Join(dir, "payload.dll"), dll)
	pid, addrs := winfix.Start(t, filepath.Join(dir, "loadlib.exe"), "loaded", dll)
	base := uintptr(addrs[0]) // as LoadLibraryW returned it

	mods := snapshotModules(t, pid)
	var found *module
	for i := range mods {
		if strings.EqualFold(mods[i].path, dll) {
			found = &mods[i]
		}
	}
	if found == nil {
		t.Fatalf("Toolhelp module snapshot of pid %d has no %s; it has:\n%s", pid, dll, listModules(mods))
	}
	if found.base != base {
		t.Errorf("Toolhelp puts %s at %#x, LoadLibraryW returned %#x", dll, found.base, base)
	}

	images := imageMappings(t, pid)
	img, ok := images[base]
	if !ok {
		t.Fatalf("VirtualQueryEx of pid %d finds no MEM_IMAGE allocation at %#x; images at:\n%s", pid, base, listImages(images))
	}
	// What Windows gives here is an NT device path (\Device\HarddiskVolume3\...);
	// logged so the form Wine gives is on record in every run.
	t.Logf("GetMappedFileNameW at %#x: %s", base, img.mapped)
	if got := dosPath(t, img.mapped); !strings.EqualFold(got, dll) {
		t.Errorf("mapped file name %q resolves to %q, want %q", img.mapped, got, dll)
	}
	if img.size < uintptr(found.size) {
		t.Errorf("image mapping at %#x spans %d bytes, Toolhelp says the module is %d", base, img.size, found.size)
	}
}

type module struct {
	path string
	base uintptr
	size uint32
}

// snapshotModules lists pid's modules the way issue 11's inventory will: a
// Toolhelp snapshot, retried while it fails with ERROR_BAD_LENGTH, which
// Windows documents for a process whose loader list changed mid-snapshot.
func snapshotModules(t *testing.T, pid uint32) []module {
	t.Helper()
	var snap windows.Handle
	var err error
	for range 10 {
		snap, err = windows.CreateToolhelp32Snapshot(windows.TH32CS_SNAPMODULE|windows.TH32CS_SNAPMODULE32, pid)
		if !errors.Is(err, windows.ERROR_BAD_LENGTH) {
			break
		}
	}
	if err != nil {
		t.Fatalf("CreateToolhelp32Snapshot(TH32CS_SNAPMODULE, %d): %v", pid, err)
	}
	defer func() { _ = windows.CloseHandle(snap) }()

	var mods []module
	e := windows.ModuleEntry32{Size: uint32(unsafe.Sizeof(windows.ModuleEntry32{}))}
	for err = windows.Module32First(snap, &e); err == nil; err = windows.Module32Next(snap, &e) {
		mods = append(mods, module{path: windows.UTF16ToString(e.ExePath[:]), base: e.ModBaseAddr, size: e.ModBaseSize})
	}
	if !errors.Is(err, windows.ERROR_NO_MORE_FILES) {
		t.Fatalf("Module32Next: %v", err)
	}
	return mods
}

type image struct {
	size   uintptr // bytes from the allocation base to the end of its last region
	mapped string  // GetMappedFileNameW of the allocation base
}

const memImage = 0x1000000 // MEM_IMAGE

var getMappedFileName = windows.NewLazySystemDLL("psapi.dll").NewProc("GetMappedFileNameW")

// imageMappings walks pid's address space with VirtualQueryEx and returns
// its image mappings by allocation base.
func imageMappings(t *testing.T, pid uint32) map[uintptr]image {
	t.Helper()
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_INFORMATION|windows.PROCESS_VM_READ, false, pid)
	if err != nil {
		t.Fatalf("OpenProcess(%d): %v", pid, err)
	}
	defer func() { _ = windows.CloseHandle(h) }()

	images := map[uintptr]image{}
	var mbi windows.MemoryBasicInformation
	for addr := uintptr(0); ; addr = mbi.BaseAddress + mbi.RegionSize {
		if err := windows.VirtualQueryEx(h, addr, &mbi, unsafe.Sizeof(mbi)); err != nil || mbi.RegionSize == 0 {
			// ERROR_INVALID_PARAMETER past the highest user address ends the walk.
			break
		}
		if mbi.Type != memImage {
			continue
		}
		img := images[mbi.AllocationBase]
		img.size = mbi.BaseAddress + mbi.RegionSize - mbi.AllocationBase
		if mbi.BaseAddress == mbi.AllocationBase {
			buf := make([]uint16, windows.MAX_LONG_PATH)
			n, _, err := getMappedFileName.Call(uintptr(h), mbi.AllocationBase, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
			if n == 0 {
				t.Errorf("GetMappedFileNameW(%#x): %v", mbi.AllocationBase, err)
			}
			img.mapped = windows.UTF16ToString(buf[:n])
		}
		images[mbi.AllocationBase] = img
	}
	return images
}

// dosPath turns the NT path GetMappedFileNameW gives into a drive-letter path,
// through each drive's QueryDosDevice target; a \??\ path is already one.
func dosPath(t *testing.T, nt string) string {
	t.Helper()
	if p, ok := strings.CutPrefix(nt, `\??\`); ok {
		return p
	}
	buf := make([]uint16, 1024)
	n, err := windows.GetLogicalDriveStrings(uint32(len(buf)), &buf[0])
	if err != nil {
		t.Fatalf("GetLogicalDriveStrings: %v", err)
	}
	// A list of NUL-terminated roots ("C:\", "Z:\", ...).
	for _, root := range strings.Split(strings.TrimRight(string(utf16.Decode(buf[:n])), "\x00"), "\x00") {
		drive := strings.TrimSuffix(root, `\`)
		target := make([]uint16, 1024)
		if _, err := windows.QueryDosDevice(windows.StringToUTF16Ptr(drive), &target[0], uint32(len(target))); err != nil {
			continue
		}
		dev := windows.UTF16ToString(target)
		if rest, ok := strings.CutPrefix(nt, dev+`\`); ok {
			return drive + `\` + rest
		}
	}
	return nt
}

func listModules(mods []module) string {
	var b strings.Builder
	for _, m := range mods {
		b.WriteString("  " + strconv.FormatUint(uint64(m.base), 16) + " " + m.path + "\n")
	}
	return b.String()
}

func listImages(images map[uintptr]image) string {
	var b strings.Builder
	for base, img := range images {
		b.WriteString("  " + strconv.FormatUint(uint64(base), 16) + " " + img.mapped + "\n")
	}
	return b.String()
}
