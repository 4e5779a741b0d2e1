package winproc

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf16"
	"unsafe"

	"golang.org/x/sys/windows"
)

// Devices reads the host's drive letters and the NT devices they link to,
// for DeviceMap.DOSPath. Drive letters change rarely; a caller reads them
// once per query, not once per region.
func Devices() (DeviceMap, error) {
	buf := make([]uint16, 512)
	n, err := windows.GetLogicalDriveStrings(uint32(len(buf)), &buf[0])
	if err != nil {
		return nil, fmt.Errorf("GetLogicalDriveStrings: %w", err)
	}
	if int(n) > len(buf) {
		return nil, fmt.Errorf("GetLogicalDriveStrings: %d characters, more than 26 drives fill", n)
	}
	var m DeviceMap
	target := make([]uint16, 1024)
	// A list of NUL-terminated roots: "C:\", "Z:\", ...
	for root := range strings.SplitSeq(strings.TrimRight(string(utf16.Decode(buf[:n])), "\x00"), "\x00") {
		drive := strings.TrimSuffix(root, `\`)
		if !isDrive(drive) {
			continue
		}
		if _, err := windows.QueryDosDevice(windows.StringToUTF16Ptr(drive), &target[0], uint32(len(target))); err != nil {
			continue // a letter whose device went away
		}
		// The answer is a NUL-separated list; the first entry is the
		// current link.
		m = append(m, DeviceLink{Drive: strings.ToUpper(drive), Device: windows.UTF16ToString(target)})
	}
	return m, nil
}

// ReadMemory walks pid's address space with VirtualQueryEx, within limits,
// and names the file behind each image and mapped allocation with
// GetMappedFileNameW (translated through devices). Free regions are left
// out. Errors are *SkipError.
func ReadMemory(pid uint32, devices DeviceMap, limits Limits) (MemoryView, error) {
	h, err := openProcess(pid, windows.PROCESS_QUERY_INFORMATION|windows.PROCESS_VM_READ)
	if err != nil {
		return MemoryView{}, err
	}
	defer func() { _ = windows.CloseHandle(h) }()
	return walk(h, devices, limits.withDefaults())
}

func walk(h windows.Handle, devices DeviceMap, limits Limits) (MemoryView, error) {
	var view MemoryView
	deadline := time.Now().Add(limits.MaxTime)
	names := map[uint64]string{} // NT path by allocation base, asked once per allocation
	buf := make([]uint16, maxPathChars+1)
	var mbi windows.MemoryBasicInformation
	for addr, steps := uintptr(0), 0; ; addr = mbi.BaseAddress + mbi.RegionSize {
		if err := windows.VirtualQueryEx(h, addr, &mbi, unsafe.Sizeof(mbi)); err != nil {
			// ERROR_INVALID_PARAMETER past the highest user address is
			// the end of the walk.
			if errors.Is(err, windows.ERROR_INVALID_PARAMETER) {
				return view, nil
			}
			return view, fmt.Errorf("VirtualQueryEx(%#x): %w", addr, err)
		}
		if mbi.RegionSize == 0 || mbi.BaseAddress+mbi.RegionSize < mbi.BaseAddress {
			return view, nil
		}
		steps++
		if steps%256 == 0 && time.Now().After(deadline) {
			view.Truncated = true
			return view, nil
		}
		if mbi.State == MemFree {
			continue
		}
		if len(view.Regions) >= limits.MaxRegions {
			view.Truncated = true
			return view, nil
		}
		r := Region{
			Base:              uint64(mbi.BaseAddress),
			Size:              uint64(mbi.RegionSize),
			AllocationBase:    uint64(mbi.AllocationBase),
			AllocationProtect: mbi.AllocationProtect,
			Protect:           mbi.Protect,
			State:             mbi.State,
			Type:              mbi.Type,
		}
		if r.Type == MemImage || r.Type == MemMapped {
			nt, seen := names[r.AllocationBase]
			if !seen {
				nt = mappedFileName(h, mbi.AllocationBase, buf)
				names[r.AllocationBase] = nt
			}
			r.NTPath = nt
			if dos, ok := devices.DOSPath(nt); ok {
				r.Path = dos
			}
		}
		view.Regions = append(view.Regions, r)
	}
}

// mappedFileName is GetMappedFileNameW at addr, "" when the kernel gives
// none (pagefile-backed sections have no file; Wine fails past MAX_PATH with
// ERROR_MORE_DATA whatever the buffer, where the loader list still has the
// path).
func mappedFileName(h windows.Handle, addr uintptr, buf []uint16) string {
	n, _, _ := procGetMappedFileNameW.Call(uintptr(h), addr, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
	if n == 0 || int(n) >= len(buf) {
		return ""
	}
	return windows.UTF16ToString(buf[:n])
}
